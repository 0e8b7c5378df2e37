"""Refresh token rotation with reuse detection (OAuth 2.0 Security BCP, section 4.14.2).

Every refresh token is used once: a refresh marks it used and hands out its successor.  A used
token presented again means that two parties hold the same token, one of them probably a thief,
so the whole session (the rotation family) is revoked and both must sign in again.  One
exception keeps honest clients working: a token used less than ``refresh_reuse_interval`` ago
(a client retrying a request whose answer it lost, or two tabs refreshing at once) gets a new
successor instead of a revocation.

``judge`` is the decision, pure and tested on its own; ``refresh`` applies it in one transaction
of four round trips (the token row is locked, so concurrent refreshes of one token are decided
one after the other), which commits before any error is raised, so that a detected reuse really
revokes the session.  The answer is a new token set (access, refresh and ID tokens).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from rowgate.auth import audit
from rowgate.auth.audit import ClientContext
from rowgate.auth.flows.identity import Identity, plausible_token
from rowgate.auth.mfa import policy
from rowgate.auth.sessions.issuing import Grant, TokenSet, issue
from rowgate.auth.tokens.opaque import digest, new_token
from rowgate.errors import InvalidToken


class Verdict(enum.Enum):
    ROTATE = "rotate"
    RETRY = "retry"
    REUSED = "reused"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class Presented:
    """A stored refresh token with its session, user and membership, as found by its digest."""

    token_id: int
    session_id: str
    expires_at: datetime
    used_at: datetime | None
    session_revoked_at: datetime | None
    session_expires_at: datetime
    authenticated_at: datetime
    user_id: str
    org_id: str | None
    role: str | None
    amr: tuple[str, ...]
    email: str
    email_verified: bool
    name: str | None
    now: datetime


def judge(token: Presented, reuse_interval: timedelta) -> Verdict:
    """What to do with a presented refresh token."""
    if token.session_revoked_at is not None:
        return Verdict.REVOKED
    if token.used_at is not None:
        return Verdict.RETRY if token.now - token.used_at <= reuse_interval else Verdict.REUSED
    if token.expires_at <= token.now or token.session_expires_at <= token.now:
        return Verdict.EXPIRED
    return Verdict.ROTATE


FIND = """
SELECT rt.id, rt.session_id::text, rt.expires_at, rt.used_at,
       s.revoked_at, s.expires_at, COALESCE(s.mfa_at, s.created_at),
       s.user_id::text, CASE WHEN m.role IS NULL THEN NULL ELSE s.org_id::text END, m.role, s.amr,
       u.email, u.email_verified_at IS NOT NULL, u.name, now()
FROM rowgate.refresh_tokens rt
JOIN rowgate.sessions s ON s.id = rt.session_id
JOIN rowgate.users u ON u.id = s.user_id
LEFT JOIN rowgate.memberships m ON m.org_id = s.org_id AND m.user_id = s.user_id
WHERE rt.digest = $1
FOR UPDATE OF rt
"""

# Store the successor, mark the presented token used (unless it already was: a retry), slide the
# session's expiry and record the event, in one statement.
SUCCEED = """
WITH successor AS (
    INSERT INTO rowgate.refresh_tokens (digest, session_id, expires_at)
    VALUES ($2, $3, now() + $4::interval) RETURNING id
), presented AS (
    UPDATE rowgate.refresh_tokens SET used_at = now(), replaced_by = (SELECT id FROM successor)
    WHERE id = $1 AND used_at IS NULL
), session AS (
    UPDATE rowgate.sessions SET last_seen_at = now(), expires_at = now() + $4::interval, ip = $8
    WHERE id = $3
), event AS (
    INSERT INTO rowgate.audit_events (event, user_id, org_id, session_id, ip, user_agent, details)
    VALUES ($5, $6, $7, $3, $8, $9, '{}'::jsonb)
)
SELECT id FROM successor
"""


async def find(conn: asyncpg.Connection, digest: bytes) -> Presented | None:
    """The token with this digest, locked for this transaction; None when there is none."""
    row = await conn.fetchrow(FIND, digest)
    if row is None:
        return None
    values = list(row.values())
    values[10] = tuple(values[10])
    return Presented(*values)


_REFUSALS = {
    None: ("The refresh token is not valid; sign in again.", "invalid_refresh_token"),
    Verdict.EXPIRED: ("The refresh token expired; sign in again.", "refresh_token_expired"),
    Verdict.REVOKED: ("This session was signed out; sign in again.", "session_revoked"),
    Verdict.REUSED: (
        "This refresh token was already used, so the session was ended for safety; sign in again.",
        "refresh_token_reused",
    ),
}


async def refresh(ident: Identity, token: str, client: ClientContext) -> TokenSet:
    if not plausible_token(token):
        raise _refusal(None)
    successor = new_token()
    verdict, presented = await _rotate(ident, token, successor, client)
    if verdict is Verdict.REUSED and presented is not None:
        await ident.revocations.revoke(presented.session_id)
    if presented is None or verdict not in (Verdict.ROTATE, Verdict.RETRY):
        raise _refusal(verdict)
    async with ident.db.connection() as conn:
        roles = ident.settings.rbac.admin_roles
        must_enrol = await policy.enrolment_required(conn, presented.user_id, presented.org_id, roles)
    return issue(ident.tokens, _grant(presented, must_enrol), successor)


async def _rotate(
    ident: Identity, token: str, successor: str, client: ClientContext
) -> tuple[Verdict | None, Presented | None]:
    lifetime = ident.settings.tokens.refresh_ttl
    async with ident.db.transaction() as conn:
        presented = await find(conn, digest(token))
        if presented is None:
            return None, None
        verdict = judge(presented, ident.settings.auth.refresh_reuse_interval)
        if verdict in (Verdict.ROTATE, Verdict.RETRY):
            event = "refresh" if verdict is Verdict.ROTATE else "refresh.retried"
            await conn.execute(
                SUCCEED,
                presented.token_id,
                digest(successor),
                presented.session_id,
                lifetime,
                event,
                presented.user_id,
                presented.org_id,
                client.ip,
                client.user_agent,
            )
        elif verdict is Verdict.REUSED:
            await _revoke_family(conn, presented, client)
    return verdict, presented


async def _revoke_family(conn: asyncpg.Connection, presented: Presented, client: ClientContext) -> None:
    """A used token came back: end its session (every token of the family dies with it)."""
    await conn.execute(
        "UPDATE rowgate.sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
        presented.session_id,
    )
    await audit.record(
        conn,
        "refresh.reused",
        client,
        user_id=presented.user_id,
        org_id=presented.org_id,
        session_id=presented.session_id,
    )


def _refusal(verdict: Verdict | None) -> InvalidToken:
    message, code = _REFUSALS[verdict]
    return InvalidToken(message, code=code)


def _grant(presented: Presented, must_enrol: bool) -> Grant:
    return Grant(
        user_id=presented.user_id,
        session_id=presented.session_id,
        email=presented.email,
        email_verified=presented.email_verified,
        name=presented.name,
        org_id=presented.org_id,
        role=presented.role,
        amr=presented.amr,
        authenticated_at=presented.authenticated_at,
        mfa_enrolment_required=must_enrol,
    )
