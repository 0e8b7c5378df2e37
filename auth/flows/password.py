"""Password reset (by a single-use link sent by mail) and password change (signed in).

Requesting a reset answers the same whatever the address, never locks anyone out, and sends at
most ``mail_per_address`` mails per window to one address.  Completing a reset sets the password,
marks the address verified (the link proved the mailbox), lifts the account's sign-in lockout and
revokes every session.  Changing the password needs the current one (counted against the
account's lockout like a sign-in) and revokes every other session.
"""

from __future__ import annotations

import asyncpg

from rowgate.auth import audit
from rowgate.auth.audit import ClientContext
from rowgate.auth.flows.identity import Identity, email_or_422, plausible_token
from rowgate.auth.flows.signin import check_password
from rowgate.auth.mail.compose import describe_lifetime
from rowgate.auth.repo import one_time_tokens, users
from rowgate.auth.repo.one_time_tokens import RESET_PASSWORD
from rowgate.auth.repo.users import User
from rowgate.auth.sessions import repo as sessions
from rowgate.auth.tokens.opaque import digest, key_digest, new_token
from rowgate.errors import BadRequest, Forbidden, Unauthorized

INVALID_LINK = "This password reset link is invalid, used or expired; ask for a new one."


async def request_reset(ident: Identity, raw_email: str, client: ClientContext) -> None:
    """Mail a reset link if the address has an account; the caller learns nothing either way."""
    await ident.guards.reset_request.hit(client.ip, message="Too many reset requests; try again later.")
    email = email_or_422(raw_email)
    allowed = await ident.guards.mail_per_address.allow(key_digest(email))
    async with ident.db.transaction() as conn:
        user = await users.by_email(conn, email)
        if user is None or not allowed:
            reason = "unknown_account" if user is None else "mail_limit"
            await audit.record(
                conn,
                "password_reset.requested",
                client,
                user_id=user.id if user else None,
                details={"sent": False, "reason": reason},
            )
            return
        await queue_reset(ident, conn, user, "reset_password")
        await audit.record(conn, "password_reset.requested", client, user_id=user.id, details={"sent": True})
    ident.mailer.wake()


async def queue_reset(ident: Identity, conn: asyncpg.Connection, user: User, template: str) -> None:
    """Create a single-use reset link for ``user`` (the previous one stops working) and queue
    ``template`` with it (``link``, ``lifetime``) to the account's address, in the caller's
    transaction."""
    token, lifetime = new_token(), ident.settings.auth.reset_ttl
    await one_time_tokens.invalidate(conn, user.id, RESET_PASSWORD)
    await one_time_tokens.create(
        conn,
        purpose=RESET_PASSWORD,
        digest=digest(token),
        email=user.email,
        lifetime=lifetime,
        user_id=user.id,
    )
    values = {"link": ident.links.reset_password(token), "lifetime": describe_lifetime(lifetime)}
    await ident.mailer.queue(conn, template, user.email, values)


async def confirm_reset(ident: Identity, token: str, new_password: str, client: ClientContext) -> None:
    """Set the password from a reset link and sign the account out everywhere."""
    with ident.hasher.admission("password_reset"):
        await _confirm_reset(ident, token, new_password, client)


async def _confirm_reset(ident: Identity, token: str, new_password: str, client: ClientContext) -> None:
    if not plausible_token(token):
        raise BadRequest(INVALID_LINK, code="invalid_reset_token")
    async with ident.db.connection() as conn:
        pending = await one_time_tokens.find(conn, RESET_PASSWORD, digest(token))
    if pending is None:
        raise BadRequest(INVALID_LINK, code="invalid_reset_token")
    ident.policy.check(new_password, email=pending.email, field="newPassword")
    password_hash = await ident.hasher.hash(new_password)
    async with ident.db.transaction() as conn:
        used = await one_time_tokens.consume(conn, RESET_PASSWORD, digest(token))
        user = await users.by_id(conn, used.user_id, for_update=True) if used and used.user_id else None
        if used is None or user is None or user.email != used.email:
            raise BadRequest(INVALID_LINK, code="invalid_reset_token")
        await users.set_password(conn, user.id, password_hash)
        await users.mark_verified(conn, user.id, user.email)
        await one_time_tokens.invalidate(conn, user.id, RESET_PASSWORD)
        revoked = await sessions.revoke_all(conn, user.id)
        await audit.record(
            conn,
            "password_reset.completed",
            client,
            user_id=user.id,
            details={"sessionsRevoked": len(revoked)},
        )
    await ident.revocations.revoke(*revoked)
    await ident.guards.account.clear(key_digest(user.email))


async def change_password(
    ident: Identity, user_id: str, session_id: str | None, current: str, new: str, client: ClientContext
) -> int:
    """Change the caller's password; every other session is revoked.  How many were."""
    with ident.hasher.admission("password_change"):
        return await _change_password(ident, user_id, session_id, current, new, client)


async def _change_password(
    ident: Identity, user_id: str, session_id: str | None, current: str, new: str, client: ClientContext
) -> int:
    user = await confirm_identity(ident, user_id, current, client, field="currentPassword")
    ident.policy.check(new, email=user.email, field="newPassword")
    password_hash = await ident.hasher.hash(new)
    async with ident.db.transaction() as conn:
        await users.set_password(conn, user.id, password_hash)
        revoked = await sessions.revoke_all(conn, user.id, keep=session_id)
        await one_time_tokens.invalidate(conn, user.id, RESET_PASSWORD)
        await ident.mailer.queue(conn, "password_changed", user.email, {})
        await audit.record(
            conn,
            "password.changed",
            client,
            user_id=user.id,
            session_id=session_id,
            details={"sessionsRevoked": len(revoked)},
        )
    await ident.revocations.revoke(*revoked)
    ident.mailer.wake()
    return len(revoked)


async def confirm_identity(
    ident: Identity, user_id: str, password: str, client: ClientContext, *, field: str = "password"
) -> User:
    """The signed-in user, after checking their password again (for changes that need it).

    Wrong passwords count against the account's lockout and the client IP like sign-in failures;
    the answer is 403 ``wrong_password`` (the caller's token is fine, so not a 401).  When argon2
    is saturated: 503 ``busy`` before anything is counted.
    """
    with ident.hasher.admission("reauth"):
        return await _confirm_identity(ident, user_id, password, client, field)


async def _confirm_identity(
    ident: Identity, user_id: str, password: str, client: ClientContext, field: str
) -> User:
    async with ident.db.connection() as conn:
        user = await users.by_id(conn, user_id)
    if user is None:
        raise Unauthorized("This account no longer exists.", code="account_deleted")
    account = key_digest(user.email)
    await ident.guards.ip.check(client.ip)
    await ident.guards.account.admit(account)
    if not await check_password(ident, user, password):
        await ident.guards.ip.failed(client.ip)
        async with ident.db.transaction() as conn:
            await audit.record(conn, "password.check_failed", client, user_id=user.id)
        raise Forbidden(f"The {field} is wrong.", code="wrong_password")
    await ident.guards.account.clear(account)
    return user
