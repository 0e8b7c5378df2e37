"""Custom roles: an organisation's own roles beside the built-in ones, managed by its admins.

Nobody grants what they do not hold: a custom role's permissions must be covered by the acting
admin's own.  Built-in roles belong to the configuration and cannot be edited through the API; a
custom role never shares a built-in role's name and is never an admin role (``rbac.admin_roles``
is configuration only).  A role still held by a member, or offered by an open invitation, cannot
be deleted.  Every change is audited and announced, so that it takes effect on the next request
on every instance (``RoleCatalog``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from rowgate.auth.actor import Actor
from rowgate.auth.db import Database
from rowgate.auth.orgs.repo import custom_role_permissions, lock_org
from rowgate.auth.rbac.catalog import RoleCatalog
from rowgate.auth.rbac.permissions import canonical, within
from rowgate.config.tenancy import RbacSettings
from rowgate.errors import Conflict, Forbidden, NotFound, ValidationFailed


@dataclass(frozen=True, slots=True)
class RoleView:
    name: str
    permissions: tuple[str, ...]
    description: str
    builtin: bool
    admin: bool
    updated_at: datetime | None = None


async def role_permissions(
    conn: asyncpg.Connection, catalog: RoleCatalog, org_id: str, role: str
) -> frozenset[str] | None:
    """What ``role`` grants in ``org_id``, read inside the caller's transaction; None if no such role."""
    builtin = catalog.builtin.get(role)
    if builtin is not None:
        return builtin
    found = await custom_role_permissions(conn, org_id, role)
    return None if found is None else canonical(found)


async def grantable_role(
    conn: asyncpg.Connection, catalog: RoleCatalog, actor: Actor, role: str
) -> frozenset[str]:
    """What ``role`` grants, once it is known to exist in the actor's organisation (422
    ``unknown_role``) and to grant nothing the actor does not hold (403 ``permission_escalation``)."""
    granted = await role_permissions(conn, catalog, actor.org_id, role)
    if granted is None:
        raise ValidationFailed(
            f"There is no role {role!r} in this organisation.",
            errors=[{"field": "role", "message": "unknown role"}],
            code="unknown_role",
        )
    check_grantable_by(actor, granted)
    return granted


def check_grantable_by(actor: Actor, permissions: frozenset[str]) -> None:
    """Forbidden unless the actor holds every permission of ``permissions``."""
    if not within(permissions, actor.permissions):
        raise Forbidden(
            "You cannot grant permissions you do not hold yourself.", code="permission_escalation"
        )


class CustomRoles:
    def __init__(self, db: Database, catalog: RoleCatalog, settings: RbacSettings) -> None:
        self._db = db
        self._catalog = catalog
        self._max = settings.max_custom_roles

    async def list(self, actor: Actor) -> list[RoleView]:
        """Built-in roles, then the organisation's custom roles, by name."""
        views = [
            RoleView(name, tuple(sorted(perms)), "", True, self._catalog.is_admin(name))
            for name, perms in sorted(self._catalog.builtin.items())
        ]
        rows = await self._db.fetch(
            "SELECT name, permissions, description, updated_at FROM rowgate.custom_roles "
            "WHERE org_id = $1 ORDER BY name",
            actor.org_id,
        )
        views += [
            RoleView(r["name"], tuple(r["permissions"]), r["description"], False, False, r["updated_at"])
            for r in rows
        ]
        return views

    async def create(self, actor: Actor, name: str, permissions: Sequence[str], description: str) -> RoleView:
        actor.require_admin()
        perms = canonical(permissions)
        check_grantable_by(actor, perms)
        if name in self._catalog.builtin:
            raise Conflict(f"{name!r} is a built-in role.", code="role_exists")
        async with self._db.transaction() as conn:
            await lock_org(conn, actor.org_id)
            count = await conn.fetchval(
                "SELECT count(*) FROM rowgate.custom_roles WHERE org_id = $1", actor.org_id
            )
            if count >= self._max:
                raise Conflict(
                    f"An organisation has at most {self._max} custom roles.", code="too_many_roles"
                )
            row = await conn.fetchrow(
                """
                INSERT INTO rowgate.custom_roles (org_id, name, permissions, description)
                VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING updated_at
                """,
                actor.org_id,
                name,
                sorted(perms),
                description,
            )
            if row is None:
                raise Conflict(f"The role {name!r} exists already.", code="role_exists")
            await self._audit(conn, actor, "role.created", name, perms)
        await self._catalog.changed(actor.org_id)
        return RoleView(name, tuple(sorted(perms)), description, False, False, row["updated_at"])

    async def update(self, actor: Actor, name: str, permissions: Sequence[str], description: str) -> RoleView:
        actor.require_admin()
        self._refuse_builtin(name)
        perms = canonical(permissions)
        check_grantable_by(actor, perms)
        async with self._db.transaction() as conn:
            row = await conn.fetchrow(
                """
                UPDATE rowgate.custom_roles SET permissions = $3, description = $4, updated_at = now()
                WHERE org_id = $1 AND name = $2 RETURNING updated_at
                """,
                actor.org_id,
                name,
                sorted(perms),
                description,
            )
            if row is None:
                raise NotFound("No such role.", code="role_not_found")
            await self._audit(conn, actor, "role.updated", name, perms)
        await self._catalog.changed(actor.org_id)
        return RoleView(name, tuple(sorted(perms)), description, False, False, row["updated_at"])

    async def delete(self, actor: Actor, name: str) -> None:
        actor.require_admin()
        self._refuse_builtin(name)
        async with self._db.transaction() as conn:
            await lock_org(conn, actor.org_id)
            if await custom_role_permissions(conn, actor.org_id, name) is None:
                raise NotFound("No such role.", code="role_not_found")
            in_use = await conn.fetchval(
                """
                SELECT EXISTS (SELECT 1 FROM rowgate.memberships WHERE org_id = $1 AND role = $2)
                    OR EXISTS (SELECT 1 FROM rowgate.invitations WHERE org_id = $1 AND role = $2
                               AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now())
                """,
                actor.org_id,
                name,
            )
            if in_use:
                raise Conflict(
                    "Members or open invitations hold this role: give them another role first.",
                    code="role_in_use",
                )
            await conn.execute(
                "DELETE FROM rowgate.custom_roles WHERE org_id = $1 AND name = $2", actor.org_id, name
            )
            await self._audit(conn, actor, "role.deleted", name, frozenset())
        await self._catalog.changed(actor.org_id)

    def _refuse_builtin(self, name: str) -> None:
        if name in self._catalog.builtin:
            raise Conflict(
                f"{name!r} is a built-in role: change it in the configuration (rbac.roles).",
                code="builtin_role",
            )

    @staticmethod
    async def _audit(
        conn: asyncpg.Connection, actor: Actor, event: str, name: str, perms: frozenset[str]
    ) -> None:
        await actor.audit(conn, event, {"role": name, "permissions": sorted(perms)})
