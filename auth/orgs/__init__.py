"""Organisations: members and their roles, invitations, switching the active organisation."""
