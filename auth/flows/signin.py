"""Sign-in with email and password, with brute-force protection.

Order of checks: a place in the hashing queue (503 ``busy`` at once when argon2 is saturated,
before anything is counted or looked up, so alike for every address), the client IP's rate limit
and lockout, then the account's lockout (counted before the password is checked, see
``auth.guards.lockout``), then the password.  An unknown
address and a wrong password get one answer (401 ``invalid_credentials``) after the same work:
unknown addresses run a dummy argon2 verification, and the account lockout is keyed by the
address whether or not an account exists.  A success clears the account's failures, upgrades the stored
hash when the argon2 parameters changed, and passes the MFA gate (``auth.mfa.gate``): a session,
or for a user with MFA a challenge their code completes.
"""

from __future__ import annotations

from rowgate.auth import audit
from rowgate.auth.audit import ClientContext
from rowgate.auth.flows.identity import Identity, email_or_422
from rowgate.auth.guards.lockout import Locked
from rowgate.auth.mfa import gate
from rowgate.auth.mfa.challenge import MfaChallenge
from rowgate.auth.mfa.service import SecondFactor
from rowgate.auth.repo import users
from rowgate.auth.repo.users import User
from rowgate.auth.sessions.issuing import PASSWORD_AMR, TokenSet
from rowgate.auth.tokens.opaque import key_digest
from rowgate.errors import Forbidden, InvalidCredentials

WRONG = "The email address or the password is wrong."


async def signin(
    ident: Identity, raw_email: str, password: str, client: ClientContext, mfa_code: str | None = None
) -> TokenSet | MfaChallenge:
    """Tokens, or (for a user with MFA and no ``mfa_code``) the challenge the code completes."""
    with ident.hasher.admission("signin"):
        return await _signin(ident, raw_email, password, client, mfa_code)


async def _signin(
    ident: Identity, raw_email: str, password: str, client: ClientContext, mfa_code: str | None
) -> TokenSet | MfaChallenge:
    guards = ident.guards
    await guards.signin.hit(client.ip, message="Too many sign-in attempts from this address; wait a moment.")
    await guards.ip.check(client.ip)
    email = email_or_422(raw_email)
    account = key_digest(email)
    locked = await guards.account.admit(account)
    user = await _find(ident, email)
    matched = await check_password(ident, user, password)
    if user is None or not matched:
        await _failed(ident, user, client, locked)
        raise InvalidCredentials(WRONG)
    await guards.account.clear(account)
    await _upgrade_hash(ident, user, password)
    if ident.settings.auth.require_email_verification and not user.email_verified:
        raise Forbidden(
            "Confirm your email address first: open the link we sent, or ask for a new one.",
            code="email_not_verified",
        )
    second = SecondFactor(code=mfa_code) if mfa_code is not None else None
    return await gate.sign_in(ident, user, client, PASSWORD_AMR, second)


async def check_password(ident: Identity, user: User | None, password: str) -> bool:
    """Verify ``password`` for ``user``; for no user (or no password) a dummy run of equal cost."""
    if user is None or user.password_hash is None:
        await ident.hasher.verify_dummy(password)
        return False
    return await ident.hasher.verify(user.password_hash, password)


async def _find(ident: Identity, email: str) -> User | None:
    async with ident.db.connection() as conn:
        return await users.by_email(conn, email)


async def _failed(ident: Identity, user: User | None, client: ClientContext, locked: Locked | None) -> None:
    """Count the failure against the client IP and record it (and any lockout it caused)."""
    ip_locked = await ident.guards.ip.failed(client.ip)
    user_id = user.id if user else None
    async with ident.db.transaction() as conn:
        reason = "unknown_account" if user is None else "wrong_password"
        await audit.record(conn, "signin.failed", client, user_id=user_id, details={"reason": reason})
        if locked:
            details = {"scope": "account", "seconds": int(locked.seconds), "failures": locked.failures}
            await audit.record(conn, "signin.locked", client, user_id=user_id, details=details)
        if ip_locked:
            details = {"scope": "ip", "seconds": int(ip_locked.seconds), "failures": ip_locked.failures}
            await audit.record(conn, "signin.locked", client, user_id=user_id, details=details)


async def _upgrade_hash(ident: Identity, user: User, password: str) -> None:
    """Re-hash with the configured parameters when the stored hash used others."""
    if user.password_hash is None or not ident.hasher.needs_rehash(user.password_hash):
        return
    new_hash = await ident.hasher.hash(password)
    async with ident.db.connection() as conn:
        await users.replace_password_hash(conn, user.id, user.password_hash, new_hash)
