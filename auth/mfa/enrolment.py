"""Turning MFA on and off, and new backup codes: the steps a signed-in user takes.

``enable`` (password) → a pending factor with its secret and QR code; ``confirm`` (a first code)
turns it on and answers the ten backup codes, shown this once; ``regenerate`` (a fresh
authenticator code) replaces them; ``disable`` needs the password and a code (or a backup code).
A failed step leaves nothing half done: a pending factor is never asked at sign-in, and a new
``enable`` replaces it.
"""

from __future__ import annotations

from rowgate.auth import audit
from rowgate.auth.audit import ClientContext
from rowgate.auth.flows.identity import Identity
from rowgate.auth.flows.password import confirm_identity
from rowgate.auth.mfa.proof import guarded
from rowgate.auth.mfa.service import NOT_ENABLED, Enrolment, SecondFactor
from rowgate.auth.repo import users
from rowgate.auth.repo.users import User
from rowgate.errors import Conflict, Unauthorized


async def enable(ident: Identity, user_id: str, password: str, client: ClientContext) -> Enrolment:
    user = await confirm_identity(ident, user_id, password, client)
    issuer = ident.settings.auth.mfa.issuer or ident.settings.mail.product_name
    enrolment = await ident.mfa.begin(user.id, user.email, issuer)
    await _record(ident, "mfa.enrolment_started", user, client)
    return enrolment


async def confirm(ident: Identity, user_id: str, code: str, client: ClientContext) -> list[str]:
    user = await signed_in_user(ident, user_id)
    codes = await guarded(ident, user, client, lambda: ident.mfa.confirm(user.id, code), signed_in=True)
    await _record(ident, "mfa.enabled", user, client)
    return codes


async def regenerate(ident: Identity, user_id: str, code: str, client: ClientContext) -> list[str]:
    """New backup codes (the old ones stop working), after a fresh authenticator code."""
    user = await _with_mfa(ident, user_id)
    second = SecondFactor(code=code)
    await guarded(ident, user, client, lambda: ident.mfa.check(user.id, second), signed_in=True)
    codes = await ident.mfa.regenerate_backup_codes(user.id)
    await _record(ident, "mfa.backup_codes_renewed", user, client)
    return codes


async def disable(
    ident: Identity, user_id: str, password: str, second: SecondFactor, client: ClientContext
) -> None:
    user = await confirm_identity(ident, user_id, password, client)
    if not await ident.mfa.enabled(user.id):
        raise Conflict(NOT_ENABLED, code="mfa_not_enabled")
    await guarded(ident, user, client, lambda: ident.mfa.check(user.id, second), signed_in=True)
    async with ident.db.transaction() as conn:
        await ident.mfa.remove(conn, user.id)
        await audit.record(conn, "mfa.disabled", client, user_id=user.id)


async def signed_in_user(ident: Identity, user_id: str) -> User:
    async with ident.db.connection() as conn:
        user = await users.by_id(conn, user_id)
    if user is None:
        raise Unauthorized("This account no longer exists.", code="account_deleted")
    return user


async def _with_mfa(ident: Identity, user_id: str) -> User:
    user = await signed_in_user(ident, user_id)
    if not await ident.mfa.enabled(user.id):
        raise Conflict(NOT_ENABLED, code="mfa_not_enabled")
    return user


async def _record(ident: Identity, event: str, user: User, client: ClientContext) -> None:
    async with ident.db.transaction() as conn:
        await audit.record(conn, event, client, user_id=user.id)
