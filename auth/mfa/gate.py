"""The MFA gate every sign-in passes: after the first factor, before the session opens.

Every way of signing in (password, and any other first factor such as an emailed link or an
identity provider: ``auth.flows.completion``) ends with ``sign_in`` (or ``pass_gate`` inside the
caller's transaction): given the user and how they proved who they are
(``amr``), it opens the session, unless the user has MFA.  Then it answers an ``MfaChallenge``
(no tokens) which ``verify`` completes with a code, or, when the caller already holds the code
(``mfaCode`` in the sign-in body), checks it at once.  A session opened after a second factor
carries ``amr`` + ``otp``/``mfa`` and its ``auth_time`` is the moment of the code.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from rowgate.auth import audit
from rowgate.auth.audit import ClientContext
from rowgate.auth.flows.identity import Identity, plausible_token
from rowgate.auth.mfa import challenge, repo
from rowgate.auth.mfa.challenge import MfaChallenge
from rowgate.auth.mfa.proof import guarded
from rowgate.auth.mfa.service import SecondFactor
from rowgate.auth.repo import users
from rowgate.auth.repo.users import User
from rowgate.auth.sessions.issuing import TokenSet
from rowgate.errors import InvalidToken

#: Added to the first factor's ``amr`` by a second factor (RFC 8176: one-time password, MFA).
SECOND_FACTOR_AMR = ("otp", "mfa")
TOO_MANY = "Too many sign-in attempts from this address; wait a moment."
EXPIRED = "This sign-in expired or was completed already: sign in again."


async def sign_in(
    ident: Identity,
    user: User,
    client: ClientContext,
    amr: Sequence[str],
    second: SecondFactor | None = None,
) -> TokenSet | MfaChallenge:
    """Open ``user``'s session after a first factor (``amr``), or ask for their second factor.

    ``second``: a code the caller sent along with the first factor (checked under the lockout;
    a wrong one is 401 ``invalid_mfa_code``).  Ignored for users without MFA.
    """
    if second is None or not await ident.mfa.enabled(user.id):
        async with ident.db.transaction() as conn:
            return await pass_gate(ident, conn, user, client, amr)
    await _prove(ident, user, client, second)
    return await _open(ident, user, client, (*amr, *SECOND_FACTOR_AMR))


async def pass_gate(
    ident: Identity, conn: asyncpg.Connection, user: User, client: ClientContext, amr: Sequence[str]
) -> TokenSet | MfaChallenge:
    """``sign_in`` without a code at hand, in the caller's transaction: the session, or for a
    user with MFA the challenge (bound to ``client``, who will send the code to ``verify``)."""
    if await repo.enabled(conn, user.id):
        return await challenge.create(conn, user, amr, client, ident.settings.auth.mfa.challenge_ttl)
    membership = await users.primary_membership(conn, user.id)
    return await ident.sessions.open(conn, user, membership, client, amr)


async def verify(ident: Identity, mfa_token: str, second: SecondFactor, client: ClientContext) -> TokenSet:
    """Complete a sign-in that answered an ``MfaChallenge``: the session's tokens."""
    await ident.guards.signin.hit(
        client.ip, message="Too many sign-in attempts from this address; wait a moment."
    )
    pending = await _pending(ident, mfa_token, client)
    async with ident.db.connection() as conn:
        user = await users.by_id(conn, pending.user_id)
    if user is None:
        raise InvalidToken(EXPIRED, code="invalid_mfa_token")
    await _prove(ident, user, client, second)
    async with ident.db.transaction() as conn:
        if await challenge.consume(conn, mfa_token, client) is None:
            raise InvalidToken(EXPIRED, code="invalid_mfa_token")
        membership = await users.primary_membership(conn, user.id)
        amr = (*pending.amr, *SECOND_FACTOR_AMR)
        return await ident.sessions.open(conn, user, membership, client, amr)


async def _pending(ident: Identity, mfa_token: str, client: ClientContext) -> challenge.Pending:
    if plausible_token(mfa_token):
        async with ident.db.connection() as conn:
            pending = await challenge.find(conn, mfa_token, client)
        if pending is not None:
            return pending
    raise InvalidToken(EXPIRED, code="invalid_mfa_token")


async def _prove(ident: Identity, user: User, client: ClientContext, second: SecondFactor) -> None:
    method = await guarded(ident, user, client, lambda: ident.mfa.check(user.id, second), signed_in=False)
    async with ident.db.transaction() as conn:
        await audit.record(conn, "mfa.verified", client, user_id=user.id, details={"method": method})


async def _open(ident: Identity, user: User, client: ClientContext, amr: Sequence[str]) -> TokenSet:
    async with ident.db.transaction() as conn:
        membership = await users.primary_membership(conn, user.id)
        return await ident.sessions.open(conn, user, membership, client, amr)
