"""Members of an organisation: list them, change a member's role, remove a member.

Admins do all three; any member may remove themselves (leave).  The organisation's row is locked
while a change is decided, so two admins demoting each other at once cannot leave it without an
admin: the last member holding an admin role can be neither demoted nor removed.

A change that takes rights away (a demotion, a removal) must bite at once, not when the member's
access token expires: the member's sessions *in this organisation* are revoked (their refresh
tokens stop working and every instance refuses their access tokens from the next request on),
and every instance re-reads the API keys the member created, which narrow to the new role's
permissions, or, on removal, are revoked.  A promotion revokes nothing: the member's next token
carries the new role.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from rowgate.auth.actor import Actor
from rowgate.auth.apikeys.verify import ApiKeyVerifier
from rowgate.auth.db import Database
from rowgate.auth.ids import canonical_uuid
from rowgate.auth.orgs import repo
from rowgate.auth.orgs.repo import Member
from rowgate.auth.rbac.catalog import RoleCatalog
from rowgate.auth.rbac.custom_roles import grantable_role, role_permissions
from rowgate.auth.rbac.permissions import within
from rowgate.auth.sessions.revocation import RevocationList
from rowgate.errors import BadRequest, Conflict, NotFound


@dataclass(frozen=True, slots=True)
class MemberPage:
    members: list[Member]
    #: Where the next page starts (opaque to clients); ``None`` on the last page.
    next: str | None


def _cursor(last: Member) -> str:
    raw = f"{last.joined_at.isoformat()}|{last.user_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        joined, user_id = raw.split("|")
        when = datetime.fromisoformat(joined)
        user = canonical_uuid(user_id)
        if user is None or when.tzinfo is None:
            raise ValueError(cursor)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise BadRequest(
            "cursor: expected the `next` value of a previous page, unchanged", code="invalid_cursor"
        ) from None
    return when, user


@dataclass(frozen=True, slots=True)
class _Fallout:
    """What a change revoked, to announce after commit."""

    sessions: list[str]
    keys: list[str]


class Members:
    def __init__(
        self, db: Database, catalog: RoleCatalog, revocations: RevocationList, keys: ApiKeyVerifier
    ) -> None:
        self._db, self._catalog, self._revocations, self._keys = db, catalog, revocations, keys

    async def current_role(self, org_id: str, user_id: str) -> str | None:
        """The member's role as the database holds it now; None when not a member."""
        org, user = canonical_uuid(org_id), canonical_uuid(user_id)
        if org is None or user is None:
            return None
        value = await self._db.fetchval(
            "SELECT role FROM rowgate.memberships WHERE org_id = $1 AND user_id = $2", org, user
        )
        return None if value is None else str(value)

    async def list(self, actor: Actor, *, limit: int, cursor: str | None = None) -> MemberPage:
        """One page of the organisation's members, in the order they joined; ``cursor`` is the
        ``next`` of the previous page."""
        actor.require_admin()
        after = _after(cursor) if cursor is not None else None
        async with self._db.connection() as conn:
            found = await repo.members(conn, actor.org_id, limit=limit + 1, after=after)
        page = found[:limit]
        more = len(found) > limit
        return MemberPage(page, _cursor(page[-1]) if more else None)

    async def change_role(self, actor: Actor, user_id: str, role: str) -> Member:
        """Give ``user_id`` the role ``role`` in the actor's organisation."""
        actor.require_admin()
        target = _member_id(user_id)
        async with self._db.transaction() as conn:
            await repo.lock_org(conn, actor.org_id)  # before reading the role: deletions wait
            granted = await grantable_role(conn, self._catalog, actor, role)
            current = await _locked_member(conn, actor.org_id, target)
            if current.role == role:
                return current
            if self._catalog.is_admin(current.role) and not self._catalog.is_admin(role):
                await self._keep_an_admin(conn, actor.org_id)
            await conn.execute(
                "UPDATE rowgate.memberships SET role = $3 WHERE org_id = $1 AND user_id = $2",
                actor.org_id,
                target,
                role,
            )
            before = await role_permissions(conn, self._catalog, actor.org_id, current.role)
            narrowed = (
                before is None
                or not within(before, granted)
                or (self._catalog.is_admin(current.role) and not self._catalog.is_admin(role))
            )
            sessions = await repo.revoke_sessions_in(conn, actor.org_id, target) if narrowed else []
            await _audit(
                conn,
                actor,
                "member.role_changed",
                target,
                {"from": current.role, "to": role, "sessionsRevoked": len(sessions)},
            )
        await self._announce(actor.org_id, target, _Fallout(sessions, []))
        return Member(current.user_id, current.email, current.name, role, current.joined_at)

    async def remove(self, actor: Actor, user_id: str) -> None:
        """Remove ``user_id`` from the actor's organisation (admins; or a member leaving)."""
        target = _member_id(user_id)
        if target != actor.user_id:
            actor.require_admin()
        async with self._db.transaction() as conn:
            await repo.lock_org(conn, actor.org_id)
            current = await _locked_member(conn, actor.org_id, target)
            if self._catalog.is_admin(current.role):
                await self._keep_an_admin(conn, actor.org_id)
            await conn.execute(
                "DELETE FROM rowgate.memberships WHERE org_id = $1 AND user_id = $2", actor.org_id, target
            )
            fallout = _Fallout(
                await repo.revoke_sessions_in(conn, actor.org_id, target),
                await repo.revoke_keys_of(conn, actor.org_id, target),
            )
            details = {
                "role": current.role,
                "sessionsRevoked": len(fallout.sessions),
                "keysRevoked": fallout.keys,
            }
            await _audit(conn, actor, "member.removed", target, details)
        await self._announce(actor.org_id, target, fallout)

    async def _keep_an_admin(self, conn: asyncpg.Connection, org_id: str) -> None:
        if await repo.count_with_roles(conn, org_id, self._catalog.admin_roles) <= 1:
            raise Conflict(
                "This is the organisation's last admin: make another member an admin first.",
                code="last_admin",
            )

    async def _announce(self, org_id: str, user_id: str, fallout: _Fallout) -> None:
        await self._revocations.revoke(*fallout.sessions)
        await self._keys.forget(*fallout.keys)
        await self._keys.creator_changed(org_id, user_id)


def _member_id(value: str) -> str:
    user = canonical_uuid(value)
    if user is None:
        raise NotFound("No such member.", code="member_not_found")
    return user


async def _locked_member(conn: asyncpg.Connection, org_id: str, user_id: str) -> Member:
    found = await repo.member(conn, org_id, user_id, lock=True)
    if found is None:
        raise NotFound("No such member.", code="member_not_found")
    return found


async def _audit(
    conn: asyncpg.Connection, actor: Actor, event: str, target: str, details: dict[str, Any]
) -> None:
    await actor.audit(conn, event, {"memberId": target, **details})
