"""Accepting an invitation with a password: sign in to the invited account, or create it.

For an invitee who is not signed in (rowgate's own invitation page, or an app that wants one
step): the invitation names the address, so the password either signs in to that account (the
sign-in flow itself, with its rate limits, lockouts and equal-cost answers) or creates it (the
password policy, argon2id and the signup rate limit).  An account created here is verified at
once (the link proves the address) and gets no organisation of its own: the invitee joins the
inviting one.  The invitation is then accepted as for a signed-in user, and the answer is a
session in the invited organisation; the session that signing in opened in the user's first
organisation ends at once, so one sign-in leaves one live session.  An account with MFA is
refused here (403 ``mfa_required``): its owner signs in with the code, then accepts signed in.
"""

from __future__ import annotations

from rowgate.auth import audit
from rowgate.auth.audit import ClientContext
from rowgate.auth.flows import signin as signin_flow
from rowgate.auth.flows.identity import Identity
from rowgate.auth.mfa.challenge import MfaChallenge
from rowgate.auth.orgs.invitations import Accepted, Invitations
from rowgate.auth.orgs.seams import SignedIn
from rowgate.auth.repo import users
from rowgate.auth.sessions.issuing import PASSWORD_AMR
from rowgate.auth.sessions.revocation import RevocationList
from rowgate.errors import Conflict, Forbidden


class Joining:
    def __init__(self, invitations: Invitations, identity: Identity, revocations: RevocationList) -> None:
        self._invitations = invitations
        self._identity = identity
        self._revocations = revocations

    async def accept(self, token: str, password: str, name: str | None, client: ClientContext) -> Accepted:
        """Sign in (an existing account) or sign up (a new one) with ``password``, then join; both
        need argon2, so a saturated pool answers 503 ``busy`` before the invitation is read."""
        with self._identity.hasher.admission("invitation"):
            return await self._accept(token, password, name, client)

    async def _accept(self, token: str, password: str, name: str | None, client: ClientContext) -> Accepted:
        invitee = await self._invitations.peek(token)
        async with self._identity.db.connection() as conn:
            existing = await users.by_email(conn, invitee.email)
        if existing is not None:
            signed_in = await signin_flow.signin(self._identity, invitee.email, password, client)
            if isinstance(signed_in, MfaChallenge):
                raise Forbidden(
                    "This account uses multi-factor authentication: sign in with your code first, "
                    "then accept the invitation signed in.",
                    code="mfa_required",
                )
            user_id, ended = existing.id, signed_in.session_id
        else:
            user_id, ended = await self._create(invitee.email, password, name, client), None
        try:
            return await self._invitations.accept(SignedIn(user_id, None, PASSWORD_AMR, client), token)
        finally:
            if ended is not None:
                await self._end(user_id, ended, client)

    async def _create(self, email: str, password: str, name: str | None, client: ClientContext) -> str:
        ident = self._identity
        await ident.guards.signup.hit(
            client.ip, message="Too many signups from this address; try again later."
        )
        ident.policy.check(password, email=email)
        password_hash = await ident.hasher.hash(password)
        async with ident.db.transaction() as conn:
            user = await users.insert_user(conn, email, password_hash, name, verified=True)
            if user is None:  # created a moment ago by someone else's request
                raise Conflict(
                    "An account with this address exists now: sign in to accept.", code="email_taken"
                )
            await audit.record(conn, "signup", client, user_id=user.id, details={"via": "invitation"})
        return user.id

    async def _end(self, user_id: str, session_id: str, client: ClientContext) -> None:
        async with self._identity.db.transaction() as conn:
            await conn.execute(
                "UPDATE rowgate.sessions SET revoked_at = now() "
                "WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
                session_id,
                user_id,
            )
        await self._revocations.revoke(session_id)
