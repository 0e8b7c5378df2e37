"""Checking a second factor the way passwords are checked: under the lockout, audited.

Every attempt counts against the account's lockout before it runs (``Lockout.admit``), and a
failure against the client IP too, so codes cannot be guessed faster than passwords: six digits
or ten backup codes behind a few guesses per lock are out of reach.  Sign-in answers a wrong
code 401 ``invalid_mfa_code``; a signed-in user (enrolment, step-up, disabling) gets 403 with the
same code, since their token is fine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from rowgate.auth import audit
from rowgate.auth.audit import ClientContext
from rowgate.auth.flows.identity import Identity
from rowgate.auth.repo.users import User
from rowgate.auth.tokens.opaque import key_digest
from rowgate.errors import Forbidden, InvalidCredentials, RowgateError

T = TypeVar("T")
WRONG_CODE = "The code is wrong, expired or was used already."


def refusal(*, signed_in: bool) -> RowgateError:
    if signed_in:
        return Forbidden(WRONG_CODE, code="invalid_mfa_code")
    return InvalidCredentials(WRONG_CODE, code="invalid_mfa_code")


async def guarded(
    ident: Identity,
    user: User,
    client: ClientContext,
    attempt: Callable[[], Awaitable[T | None]],
    *,
    signed_in: bool,
) -> T:
    """The result of ``attempt`` (a code check), counted by the lockouts; ``refusal`` when it is None."""
    account = key_digest(user.email)
    await ident.guards.ip.check(client.ip)
    await ident.guards.account.admit(account)
    result = await attempt()
    if result is None:
        await ident.guards.ip.failed(client.ip)
        async with ident.db.transaction() as conn:
            await audit.record(conn, "mfa.failed", client, user_id=user.id)
        raise refusal(signed_in=signed_in)
    await ident.guards.account.clear(account)
    return result
