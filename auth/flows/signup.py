"""Signup: a user, an organisation with the user as its admin, and a session or a verification mail.

Every new account is sent a verification link.  With ``auth.require_email_verification`` off,
signup also signs the new user in (tokens; ``email_verified`` stays false until the link is
used), and an address that is taken is a 409 ``email_taken``: the caller must learn it to sign in
instead.
With it on (the default in production), signup answers the same 202 for new and taken addresses
(no tokens until the address is verified), and the owner of a taken address gets a mail saying
someone tried, with a password reset link; so signup reveals nothing about who has an account.

The password is checked and hashed before the transaction; the unique constraint on the
normalised address decides between concurrent signups, so exactly one of them creates the user.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from rowgate.auth import audit
from rowgate.auth.audit import ClientContext
from rowgate.auth.flows.identity import Identity, email_or_422
from rowgate.auth.flows.password import queue_reset
from rowgate.auth.flows.verification import queue_verification
from rowgate.auth.repo import users
from rowgate.auth.repo.users import User
from rowgate.auth.sessions.issuing import TokenSet
from rowgate.auth.tokens.opaque import key_digest
from rowgate.errors import Conflict


@dataclass(frozen=True, slots=True)
class SignupForm:
    email: str
    password: str
    name: str | None = None
    org_name: str | None = None


@dataclass(frozen=True, slots=True)
class SignupResult:
    """Tokens when the user is signed in; None when the address must be verified first."""

    tokens: TokenSet | None


async def signup(ident: Identity, form: SignupForm, client: ClientContext) -> SignupResult:
    """Create the account (503 ``busy`` first, before anything is counted, when argon2 is saturated)."""
    with ident.hasher.admission("signup"):
        return await _signup(ident, form, client)


async def _signup(ident: Identity, form: SignupForm, client: ClientContext) -> SignupResult:
    await ident.guards.signup.hit(client.ip, message="Too many signups from this address; try again later.")
    email = email_or_422(form.email)
    ident.policy.check(form.password, email=email)
    password_hash = await ident.hasher.hash(form.password)
    if ident.settings.auth.require_email_verification:
        await _signup_verified_later(ident, form, email, password_hash, client)
        ident.mailer.wake()
        return SignupResult(tokens=None)
    async with ident.db.transaction() as conn:
        user = await users.insert_user(conn, email, password_hash, form.name)
        if user is None:
            raise Conflict("An account with this email address exists; sign in instead.", code="email_taken")
        membership = await users.create_org(conn, _org_name(form, email), user.id)
        await audit.record(conn, "signup", client, user_id=user.id, org_id=membership.org_id)
        await _first_verification(ident, conn, user)
        tokens = await ident.sessions.open(conn, user, membership, client)
    ident.mailer.wake()
    return SignupResult(tokens=tokens)


async def _signup_verified_later(
    ident: Identity, form: SignupForm, email: str, password_hash: str, client: ClientContext
) -> None:
    async with ident.db.transaction() as conn:
        user = await users.insert_user(conn, email, password_hash, form.name)
        if user is None:
            await _notify_owner(ident, conn, email, client)
            return
        membership = await users.create_org(conn, _org_name(form, email), user.id)
        await audit.record(conn, "signup", client, user_id=user.id, org_id=membership.org_id)
        await _first_verification(ident, conn, user)


async def _first_verification(ident: Identity, conn: asyncpg.Connection, user: User) -> None:
    """Queue the verification mail of a new account (whether or not sign-in waits for it).

    It counts against the address's mail limit and is sent regardless: it is the first.
    """
    await ident.guards.mail_per_address.allow(key_digest(user.email))
    await queue_verification(ident, conn, user)


async def _notify_owner(ident: Identity, conn: asyncpg.Connection, email: str, client: ClientContext) -> None:
    """Tell the owner of a taken address that someone tried to sign up with it, with a reset link
    (the likeliest reason to sign up again is a forgotten password).  The work is of the same kind
    and size as a new account's (a user lookup, an audit row, a single-use token, a mail), and the
    password was hashed either way, so the answer's timing tells little."""
    existing = await users.by_email(conn, email)
    await audit.record(conn, "signup.duplicate", client, user_id=existing.id if existing else None)
    if existing and await ident.guards.mail_per_address.allow(key_digest(email)):
        await queue_reset(ident, conn, existing, "account_exists")


def _org_name(form: SignupForm, email: str) -> str:
    if form.org_name:
        return form.org_name
    return f"{form.name or email.split('@', 1)[0]}'s organisation"
