"""Refreshing a session: rotate its refresh token, hand out new access and ID tokens.

The decision is ``auth.refresh.judge``; this module applies it.  The transaction commits before
any error is raised, so that a detected reuse really revokes the session.
"""

from __future__ import annotations

import asyncpg

from rowgate.auth import audit
from rowgate.auth.audit import ClientContext
from rowgate.auth.flows.identity import Identity, plausible_token
from rowgate.auth.flows.issuing import Grant, TokenSet, issue
from rowgate.auth.opaque import digest, new_token
from rowgate.auth.refresh import SUCCEED, Presented, Verdict, find, judge
from rowgate.errors import InvalidToken

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
    return issue(ident.tokens, _grant(presented), successor)


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


def _grant(presented: Presented) -> Grant:
    return Grant(
        user_id=presented.user_id,
        session_id=presented.session_id,
        email=presented.email,
        email_verified=presented.email_verified,
        name=presented.name,
        org_id=presented.org_id,
        role=presented.role,
        amr=presented.amr,
        authenticated_at=presented.session_created_at,
    )
