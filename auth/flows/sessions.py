"""Sessions: opening one at sign-in, listing them, signing out, revoking.

A revoked session stops working everywhere at once: its row is marked revoked (so its refresh
tokens are refused) and its id goes to the revocation list (so every instance refuses its access
tokens from the next request on, without waiting for them to expire).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from rowgate.auth import audit
from rowgate.auth.audit import ClientContext
from rowgate.auth.device import device_label
from rowgate.auth.flows.identity import Identity
from rowgate.auth.flows.issuing import PASSWORD_AMR, Grant, TokenSet, issue
from rowgate.auth.opaque import digest, new_token
from rowgate.auth.repo import sessions, users
from rowgate.auth.repo.sessions import Session
from rowgate.auth.repo.users import Membership, User
from rowgate.errors import NotFound, Unauthorized


async def open_session(
    ident: Identity,
    conn: asyncpg.Connection,
    user: User,
    membership: Membership | None,
    client: ClientContext,
    amr: tuple[str, ...] = PASSWORD_AMR,
) -> tuple[Session, str]:
    """A new session with its first refresh token (returned in clear, stored as a digest)."""
    lifetime = ident.settings.tokens.refresh_ttl
    session = await sessions.create(
        conn,
        user_id=user.id,
        org_id=membership.org_id if membership else None,
        device=device_label(client.user_agent),
        ip=client.ip,
        amr=amr,
        lifetime=lifetime,
    )
    refresh = new_token()
    await sessions.issue_refresh(conn, session.id, digest(refresh), lifetime)
    await audit.record(
        conn,
        "signin.succeeded",
        client,
        user_id=user.id,
        org_id=session.org_id,
        session_id=session.id,
        details={"method": "password", "device": session.device},
    )
    return session, refresh


def session_tokens(
    ident: Identity, user: User, membership: Membership | None, session: Session, refresh: str
) -> TokenSet:
    grant = Grant(
        user_id=user.id,
        session_id=session.id,
        email=user.email,
        email_verified=user.email_verified,
        name=user.name,
        org_id=membership.org_id if membership else None,
        role=membership.role if membership else None,
        amr=session.amr,
        authenticated_at=session.created_at,
    )
    return issue(ident.tokens, grant, refresh)


@dataclass(frozen=True, slots=True)
class SessionView:
    session: Session
    current: bool

    def as_json(self) -> dict[str, Any]:
        s = self.session
        return {
            "id": s.id,
            "device": s.device,
            "ip": s.ip,
            "createdAt": _iso(s.created_at),
            "lastSeenAt": _iso(s.last_seen_at),
            "expiresAt": _iso(s.expires_at),
            "current": self.current,
        }


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


async def me(ident: Identity, user_id: str, org_id: str | None, session_id: str | None) -> dict[str, Any]:
    """The caller: user, active organisation with role, and session id."""
    async with ident.db.connection() as conn:
        user = await users.by_id(conn, user_id)
        if user is None:
            raise Unauthorized("This account no longer exists.", code="account_deleted")
        membership = await users.membership(conn, user_id, org_id) if org_id else None
    return {
        "user": {
            "id": user.id,
            "email": user.email,
            "emailVerified": user.email_verified,
            "name": user.name,
            "createdAt": _iso(user.created_at),
        },
        "org": (
            {"id": membership.org_id, "name": membership.org_name, "role": membership.role}
            if membership
            else None
        ),
        "sessionId": session_id,
    }


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
