"""Email verification: a single-use token sent by mail, confirmed by the link, resent on request.

Resending answers the same whatever the address (so it reveals nothing), is rate limited per
client IP (429), and sends at most ``mail_per_address`` messages per window to one address
(beyond that, silently nothing).
"""

from __future__ import annotations

import asyncpg

from rowgate.auth import audit
from rowgate.auth.audit import ClientContext
from rowgate.auth.flows.identity import Identity, email_or_422, plausible_token
from rowgate.auth.mail.compose import describe_lifetime
from rowgate.auth.repo import one_time_tokens, users
from rowgate.auth.repo.one_time_tokens import VERIFY_EMAIL
from rowgate.auth.repo.users import User
from rowgate.auth.tokens.opaque import digest, key_digest, new_token
from rowgate.errors import BadRequest

INVALID_LINK = "This verification link is invalid, used or expired; ask for a new one."


async def queue_verification(ident: Identity, conn: asyncpg.Connection, user: User) -> None:
    """Create a verification token for the user's address and queue its mail (caller's transaction).

    Earlier unused verification tokens of the user are used up: only the newest link works.
    """
    token = new_token()
    lifetime = ident.settings.auth.verification_ttl
    await one_time_tokens.invalidate(conn, user.id, VERIFY_EMAIL)
    await one_time_tokens.create(
        conn, purpose=VERIFY_EMAIL, digest=digest(token), email=user.email, lifetime=lifetime, user_id=user.id
    )
    await ident.mailer.queue(
        conn,
        "verify_email",
        user.email,
        {"link": ident.links.verify_email(token), "lifetime": describe_lifetime(lifetime)},
    )


async def verify_email(ident: Identity, token: str, client: ClientContext) -> str:
    """Mark the address the token was sent to as verified; the user's id.  400 for a bad link."""
    if not plausible_token(token):
        raise BadRequest(INVALID_LINK, code="invalid_verification_token")
    async with ident.db.transaction() as conn:
        found = await one_time_tokens.consume(conn, VERIFY_EMAIL, digest(token))
        if (
            found is None
            or found.user_id is None
            or not await users.mark_verified(conn, found.user_id, found.email)
        ):
            raise BadRequest(INVALID_LINK, code="invalid_verification_token")
        await audit.record(conn, "email.verified", client, user_id=found.user_id)
    return found.user_id


async def resend_verification(ident: Identity, raw_email: str, client: ClientContext) -> None:
    """Send a new verification link if the address has an unverified account; answers alike either way."""
    await ident.guards.verify_resend.hit(client.ip)
    email = email_or_422(raw_email)
    allowed = await ident.guards.mail_per_address.allow(key_digest(email))
    async with ident.db.transaction() as conn:
        user = await users.by_email(conn, email)
        if user is None or user.email_verified or not allowed:
            return
        await queue_verification(ident, conn, user)
        await audit.record(conn, "email.verification_sent", client, user_id=user.id)
    ident.mailer.wake()
