"""The ``mfaToken`` between the first factor and the code: short-lived, single use, bound.

It is a random token stored as a digest (a ``one_time_tokens`` row of purpose ``mfa_signin``)
holding how the first factor was given (its ``amr``) and the client that gave it (IP and user
agent): a token carried to another client does not complete.  It is used up by the verification
that opens the session, in the same transaction, so two verifications cannot both sign in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from rowgate.auth.audit import ClientContext
from rowgate.auth.repo import one_time_tokens
from rowgate.auth.repo.users import User
from rowgate.auth.tokens.opaque import digest, key_digest, new_token

PURPOSE = "mfa_signin"


@dataclass(frozen=True, slots=True)
class MfaChallenge:
    """What a sign-in answers when the user has MFA: no tokens, a token to complete it with."""

    mfa_token: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class Pending:
    """A sign-in waiting for its second factor."""

    user_id: str
    amr: tuple[str, ...]


async def create(
    conn: asyncpg.Connection, user: User, amr: Sequence[str], client: ClientContext, lifetime: timedelta
) -> MfaChallenge:
    token = new_token()
    await one_time_tokens.create(
        conn,
        purpose=PURPOSE,
        digest=digest(token),
        email=user.email,
        lifetime=lifetime,
        user_id=user.id,
        data={"amr": list(amr), "client": _fingerprint(client)},
    )
    return MfaChallenge(token, int(lifetime.total_seconds()))


async def find(conn: asyncpg.Connection, token: str, client: ClientContext) -> Pending | None:
    """The pending sign-in of ``token`` from this client (None: unknown, used, expired, elsewhere)."""
    return _pending(await one_time_tokens.find(conn, PURPOSE, digest(token)), client)


async def consume(conn: asyncpg.Connection, token: str, client: ClientContext) -> Pending | None:
    """Use the token up; None when another verification used it first (or it is not valid)."""
    return _pending(await one_time_tokens.consume(conn, PURPOSE, digest(token)), client)


def _pending(found: one_time_tokens.OneTimeToken | None, client: ClientContext) -> Pending | None:
    if found is None or found.user_id is None or found.data.get("client") != _fingerprint(client):
        return None
    return Pending(found.user_id, tuple(str(a) for a in found.data.get("amr", ())))


def _fingerprint(client: ClientContext) -> str:
    """The client as a digest (the token row keeps no IP or user agent in clear)."""
    return key_digest(f"{client.ip}\n{client.user_agent}")
