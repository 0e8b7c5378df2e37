"""Sessions: listing them, signing out, revoking (``auth.sessions.opener`` opens them).

A revoked session stops working everywhere at once: its row is marked revoked (so its refresh
tokens are refused) and its id goes to the revocation list (so every instance refuses its access
tokens from the next request on, without waiting for them to expire).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from rowgate.auth import audit
from rowgate.auth.audit import ClientContext
from rowgate.auth.flows.identity import Identity
from rowgate.auth.repo import users
from rowgate.auth.repo.users import Membership, User
from rowgate.auth.sessions import repo as sessions
from rowgate.auth.sessions.repo import Session
from rowgate.errors import NotFound, Unauthorized


@dataclass(frozen=True, slots=True)
class SessionView:
    session: Session
    current: bool


async def list_sessions(ident: Identity, user_id: str, current: str | None) -> list[SessionView]:
    async with ident.db.connection() as conn:
        found = await sessions.active(conn, user_id)
    return [SessionView(s, s.id == current) for s in found]


async def revoke_session(ident: Identity, user_id: str, session_id: str, client: ClientContext) -> None:
    """Revoke one of the caller's own sessions; 404 for any other id (someone else's included)."""
    if not _is_uuid(session_id):
        raise NotFound("No such session.", code="session_not_found")
    async with ident.db.transaction() as conn:
        if not await sessions.revoke(conn, user_id, session_id):
            raise NotFound("No such session.", code="session_not_found")
        await audit.record(conn, "session.revoked", client, user_id=user_id, session_id=session_id)
    await ident.revocations.revoke(session_id)


async def revoke_other_sessions(
    ident: Identity, user_id: str, keep: str | None, client: ClientContext
) -> int:
    """Revoke every session of the caller except ``keep``; how many."""
    async with ident.db.transaction() as conn:
        revoked = await sessions.revoke_all(conn, user_id, keep=keep)
        await audit.record(
            conn,
            "session.revoked",
            client,
            user_id=user_id,
            session_id=keep,
            details={"others": len(revoked)},
        )
    await ident.revocations.revoke(*revoked)
    return len(revoked)


async def signout(ident: Identity, user_id: str, session_id: str | None, client: ClientContext) -> None:
    """End the caller's session (idempotent: an already ended one is fine)."""
    if session_id is None:
        return
    async with ident.db.transaction() as conn:
        await sessions.revoke(conn, user_id, session_id)
        await audit.record(conn, "signout", client, user_id=user_id, session_id=session_id)
    await ident.revocations.revoke(session_id)


@dataclass(frozen=True, slots=True)
class Me:
    """The caller: user, active organisation with role (None without one), and session id."""

    user: User
    membership: Membership | None
    session_id: str | None


async def me(ident: Identity, user_id: str, org_id: str | None, session_id: str | None) -> Me:
    """The caller: user, active organisation with role, and session id."""
    async with ident.db.connection() as conn:
        user = await users.by_id(conn, user_id)
        if user is None:
            raise Unauthorized("This account no longer exists.", code="account_deleted")
        membership = await users.membership(conn, user_id, org_id) if org_id else None
    return Me(user, membership, session_id)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
