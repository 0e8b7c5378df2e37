"""An organisation's users as its admins see them: a searchable list, and each member's sessions
in the organisation, which an admin can end one at a time or all at once.

Only members of the admin's organisation are found, and only their sessions *in that
organisation* (a member's sessions in another organisation are that organisation's business):
any other id is "not found", whether it exists elsewhere or not.  An ended session stops working
on every instance at once: its row is revoked in the same transaction as the audit event, then
its id goes to the revocation list (announced through the store).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from rowgate.auth.actor import Actor
from rowgate.auth.admin.queries import bad_cursor, decode_cursor, encode_cursor
from rowgate.auth.db import Database
from rowgate.auth.ids import canonical_uuid
from rowgate.auth.sessions.repo import Session
from rowgate.auth.sessions.revocation import RevocationList
from rowgate.errors import NotFound


@dataclass(frozen=True, slots=True)
class AdminUser:
    id: str
    email: str
    name: str | None
    email_verified: bool
    role: str
    joined_at: datetime
    #: Live sessions in the organisation.
    sessions: int


@dataclass(frozen=True, slots=True)
class UserPage:
    users: list[AdminUser]
    next: str | None


_USERS = """
SELECT u.id::text, u.email, u.name, u.email_verified_at IS NOT NULL, m.role, m.created_at,
       (SELECT count(*) FROM rowgate.sessions s WHERE s.user_id = u.id AND s.org_id = m.org_id
        AND s.revoked_at IS NULL AND s.expires_at > now())
FROM rowgate.memberships m JOIN rowgate.users u ON u.id = m.user_id
WHERE m.org_id = $1
  AND ($2::text IS NULL OR strpos(lower(u.email), lower($2)) > 0
       OR strpos(lower(coalesce(u.name, '')), lower($2)) > 0)
  AND ($3::text IS NULL OR (u.email, u.id) > ($3, $4::uuid))
ORDER BY u.email, u.id
LIMIT $5
"""

_SESSIONS = """
SELECT id::text, user_id::text, org_id::text, device, ip, amr, created_at, last_seen_at, expires_at
FROM rowgate.sessions
WHERE user_id = $1 AND org_id = $2 AND revoked_at IS NULL AND expires_at > now()
ORDER BY last_seen_at DESC, created_at DESC
"""


class MemberSessions:
    def __init__(self, db: Database, revocations: RevocationList) -> None:
        self._db, self._revocations = db, revocations

    async def users(self, actor: Actor, *, search: str | None, limit: int, cursor: str | None) -> UserPage:
        """One page of the organisation's members whose email or name holds ``search``, by email."""
        actor.require_admin()
        after = _after(cursor) if cursor is not None else (None, None)
        async with self._db.connection() as conn:
            rows = await conn.fetch(_USERS, actor.org_id, search, *after, limit + 1)
        found = [AdminUser(*row.values()) for row in rows]
        shown = found[:limit]
        more = len(found) > limit
        return UserPage(shown, encode_cursor(shown[-1].id, shown[-1].email) if more else None)

    async def sessions(self, actor: Actor, user_id: str) -> list[Session]:
        """The member's live sessions in the organisation, most recently used first."""
        actor.require_admin()
        async with self._db.connection() as conn:
            member = await _member(conn, actor, user_id)
            rows = await conn.fetch(_SESSIONS, member, actor.org_id)
        return [_session(row) for row in rows]

    async def end(self, actor: Actor, user_id: str, session_id: str | None = None) -> int:
        """End one of the member's sessions in the organisation (``session_id``), or all of them;
        how many.  One that is not there (or not live) is 404; "all" of none is 0."""
        actor.require_admin()
        async with self._db.transaction() as conn:
            member = await _member(conn, actor, user_id)
            ended = await _revoke(conn, actor.org_id, member, session_id)
            if session_id is not None and not ended:
                raise NotFound("No such session.", code="session_not_found")
            details: dict[str, Any] = {"memberId": member, "sessions": ended}
            await actor.audit(conn, "session.revoked_by_admin", details)
        await self._revocations.revoke(*ended)
        return len(ended)


async def _member(conn: asyncpg.Connection, actor: Actor, user_id: str) -> str:
    member = canonical_uuid(user_id)
    if member is None or not await conn.fetchval(
        "SELECT true FROM rowgate.memberships WHERE org_id = $1 AND user_id = $2", actor.org_id, member
    ):
        raise NotFound("No such member.", code="member_not_found")
    return member


async def _revoke(conn: asyncpg.Connection, org_id: str, user_id: str, session_id: str | None) -> list[str]:
    one = None
    if session_id is not None:
        one = canonical_uuid(session_id)
        if one is None:
            return []
    rows = await conn.fetch(
        """
        UPDATE rowgate.sessions SET revoked_at = now()
        WHERE user_id = $1 AND org_id = $2 AND revoked_at IS NULL AND ($3::uuid IS NULL OR id = $3::uuid)
        RETURNING id::text
        """,
        user_id,
        org_id,
        one,
    )
    return [row[0] for row in rows]


def _session(row: asyncpg.Record) -> Session:
    values = list(row.values())
    values[5] = tuple(values[5])
    return Session(*values)


def _after(cursor: str) -> tuple[str, str]:
    user_id, email = decode_cursor(cursor, 2)
    user = canonical_uuid(user_id)
    if user is None or not email:
        raise bad_cursor()
    return email, user
