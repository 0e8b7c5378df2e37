"""What a role holds on the data API, for ``rowgate policy explain --role NAME``.

Built-in roles come from the configuration (``rbac.roles``); a custom role is an organisation's
own, read from the database when ``--tenant`` names the organisation (without it, its
permissions are unknown: each organisation defines the role its own way).
"""

from __future__ import annotations

import asyncio

import asyncpg

from rowgate.auth.ids import canonical_uuid
from rowgate.auth.rbac.permissions import canonical, grants
from rowgate.config.schema import Settings
from rowgate.proxy.data.policy_cli import RoleGrants, RoleLookup

_CUSTOM = "SELECT permissions FROM rowgate.custom_roles WHERE org_id = $1 AND name = $2"


def role_lookup(settings: Settings, database_url: str | None) -> RoleLookup:
    """Looks roles up in ``settings`` and, for custom roles, in the database at ``database_url``."""
    rbac = settings.rbac

    def lookup(name: str, tenant: str | None) -> RoleGrants:
        admin = name in rbac.admin_roles
        if name in rbac.roles:
            return _grants(name, rbac.roles[name], admin, "built-in")
        org = canonical_uuid(tenant) if tenant else None
        if org is None or not database_url:
            return RoleGrants(name, None, lambda _: False, admin, "custom role: give --tenant and a database")
        found = asyncio.run(_custom(database_url, org, name))
        if found is None:
            return _grants(name, (), admin, f"no such role in organisation {org}: it grants nothing")
        return _grants(name, found, admin, f"custom role of organisation {org}")

    return lookup


def _grants(name: str, permissions: tuple[str, ...], admin: bool, where: str) -> RoleGrants:
    held = canonical(permissions)
    return RoleGrants(name, tuple(sorted(held)), lambda wanted: grants(held, wanted), admin, where)


async def _custom(database_url: str, org: str, name: str) -> tuple[str, ...] | None:
    conn = await asyncpg.connect(database_url)
    try:
        found = await conn.fetchval(_CUSTOM, org, name)
    except asyncpg.UndefinedTableError:  # a database without rowgate's schema
        return None
    finally:
        await conn.close()
    return None if found is None else tuple(found)
