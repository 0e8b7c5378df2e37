"""Sign-in and sign-up by a link sent by mail (a "magic link").

``request_link`` answers alike for every address (the handler says 202 whatever happens): a link
is mailed to an address with an account, and, when ``auth.magic_link.allow_signup`` is on and the
request is a sign-up, to a new address too.  Requests count against a per-IP limit (429) and the
address's mail limit (beyond it, silently nothing), like the other mails.

The link opens rowgate's page, whose button posts the token (opening the link alone changes
nothing, so mail scanners that follow links do not use it up).  ``redeem`` uses the token once,
within ``auth.magic_link.ttl``, and answers where to send the browser: the application's
``callbackUrl`` with a single-use exchange code (``auth.flows.exchange``), never tokens.

Opening the link proves the address: an unverified account becomes verified.  Whoever created an
unverified account may not have owned the address, so its password is dropped and its sessions
are revoked (the owner of the address takes the account over, not the other way round).
"""

from __future__ import annotations

import asyncpg

from rowgate.auth import audit
from rowgate.auth.audit import ClientContext
from rowgate.auth.flows.completion import MAGIC_LINK
from rowgate.auth.flows.exchange import allowed_callback, checked_challenge, issue_code, with_params
from rowgate.auth.flows.identity import Identity, email_or_422, plausible_token
from rowgate.auth.mail.compose import describe_lifetime
from rowgate.auth.repo import one_time_tokens, users
from rowgate.auth.repo.one_time_tokens import OneTimeToken
from rowgate.auth.repo.users import User
from rowgate.auth.sessions import repo as sessions
from rowgate.auth.tokens.opaque import digest, key_digest, new_token
from rowgate.errors import BadRequest, Forbidden

PURPOSE = "magic_link"
INVALID_LINK = "This sign-in link is invalid, used or expired; ask for a new one."


async def request_link(
    ident: Identity,
    raw_email: str,
    callback_url: str,
    challenge: str | None,
    client: ClientContext,
    *,
    signup: bool,
) -> None:
    """Mail a sign-in link when the address may have one; quietly nothing otherwise."""
    _check_enabled(ident, signup)
    await ident.guards.magic_link.hit(client.ip, message="Too many sign-in links asked for; try again later.")
    email = email_or_422(raw_email)
    callback = allowed_callback(ident, callback_url)
    challenge = checked_challenge(challenge)
    allowed = await ident.guards.mail_per_address.allow(key_digest(email))
    async with ident.db.transaction() as conn:
        user = await users.by_email(conn, email)
        if not allowed or (user is None and not signup):
            return
        await _queue_link(ident, conn, email, user, {"callbackUrl": callback, "challenge": challenge})
        await audit.record(conn, "magiclink.sent", client, user_id=user.id if user else None)
    ident.mailer.wake()


def _check_enabled(ident: Identity, signup: bool) -> None:
    settings = ident.settings.auth.magic_link
    if not settings.enabled:
        raise Forbidden("Sign-in links are turned off on this server.", code="magic_links_disabled")
    if signup and not settings.allow_signup:
        raise Forbidden("Signing up by link is turned off on this server.", code="signup_disabled")


async def _queue_link(
    ident: Identity, conn: asyncpg.Connection, email: str, user: User | None, data: dict[str, str | None]
) -> None:
    token = new_token()
    lifetime = ident.settings.auth.magic_link.ttl
    if user is not None:
        await one_time_tokens.invalidate(conn, user.id, PURPOSE)
    await one_time_tokens.create(
        conn,
        purpose=PURPOSE,
        digest=digest(token),
        email=email,
        lifetime=lifetime,
        user_id=user.id if user else None,
        data=data,
    )
    values = {"link": ident.links.magic_link(token), "lifetime": describe_lifetime(lifetime)}
    await ident.mailer.queue(conn, "magic_link", email, values)


async def redeem(ident: Identity, token: str, client: ClientContext) -> str:
    """Use the link's token: the URL to send the browser to (the callback with a code)."""
    if not plausible_token(token):
        raise BadRequest(INVALID_LINK, code="invalid_magic_link")
    async with ident.db.transaction() as conn:
        found = await one_time_tokens.consume(conn, PURPOSE, digest(token))
        if found is None:
            raise BadRequest(INVALID_LINK, code="invalid_magic_link")
        user, revoked = await _account(conn, found, client)
        challenge = found.data.get("challenge")
        code = await issue_code(ident, conn, user.id, user.email, MAGIC_LINK, challenge)
        await audit.record(conn, "magiclink.used", client, user_id=user.id)
    await ident.revocations.revoke(*revoked)
    return with_params(str(found.data["callbackUrl"]), code=code)


async def _account(
    conn: asyncpg.Connection, found: OneTimeToken, client: ClientContext
) -> tuple[User, list[str]]:
    """The account the link signs in to (created for a sign-up link), with its address verified;
    and the sessions revoked when the address was unverified until now."""
    user = await users.by_email(conn, found.email)
    if user is None and found.user_id is None:
        user = await _create(conn, found.email, client)
    if user is None or (found.user_id is not None and user.id != found.user_id):
        raise BadRequest(INVALID_LINK, code="invalid_magic_link")  # the account went away meanwhile
    revoked: list[str] = []
    if not user.email_verified:
        revoked = await sessions.revoke_all(conn, user.id)
        await users.drop_password(conn, user.id)
        await users.mark_verified(conn, user.id, user.email)
        await audit.record(conn, "email.verified", client, user_id=user.id, details={"by": "magiclink"})
    return user, revoked


async def _create(conn: asyncpg.Connection, email: str, client: ClientContext) -> User | None:
    user = await users.insert_user(conn, email, None, None, verified=True)
    if user is None:  # a concurrent sign-up took the address: sign in to that account
        return await users.by_email(conn, email)
    membership = await users.create_org(conn, f"{email.split('@', 1)[0]}'s organisation", user.id)
    await audit.record(
        conn, "signup", client, user_id=user.id, org_id=membership.org_id, details={"method": MAGIC_LINK}
    )
    return user
