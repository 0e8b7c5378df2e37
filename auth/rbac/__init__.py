"""Roles and permissions: the permission algebra, the role catalogue, custom roles per organisation."""
