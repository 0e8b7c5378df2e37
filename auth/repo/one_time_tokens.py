"""Single-use tokens sent by mail (verification, reset; later magic links and invitations).

Only the SHA-256 digest is stored.  ``consume`` marks a token used in the same statement that
finds it, so two concurrent uses of one token cannot both succeed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg

VERIFY_EMAIL = "verify_email"
RESET_PASSWORD = "reset_password"  # noqa: S105 (a purpose, not a password)


@dataclass(frozen=True, slots=True)
class OneTimeToken:
    id: str
    user_id: str | None
    org_id: str | None
    email: str
    data: Mapping[str, Any]


def _token(row: asyncpg.Record | None) -> OneTimeToken | None:
    if row is None:
        return None
    token_id, user_id, org_id, email, data = row.values()
    return OneTimeToken(token_id, user_id, org_id, email, json.loads(data))


async def create(
    conn: asyncpg.Connection,
    *,
    purpose: str,
    digest: bytes,
    email: str,
    lifetime: timedelta,
    user_id: str | None = None,
    org_id: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> str:
    """Store a token's digest; its id."""
    token_id = await conn.fetchval(
        """
        INSERT INTO rowgate.one_time_tokens (purpose, digest, user_id, org_id, email, data, expires_at)
        VALUES ($1, $2, $3, $4, $5, $6::jsonb, now() + $7::interval) RETURNING id::text
        """,
        purpose,
        digest,
        user_id,
        org_id,
        email,
        json.dumps(dict(data or {})),
        lifetime,
    )
    return str(token_id)


_RETURNING = "id::text, user_id::text, org_id::text, email, data::text"


async def find(conn: asyncpg.Connection, purpose: str, digest: bytes) -> OneTimeToken | None:
    """The unused, unexpired token with this digest, without using it."""
    row = await conn.fetchrow(
        f"""
        SELECT {_RETURNING} FROM rowgate.one_time_tokens
        WHERE digest = $2 AND purpose = $1 AND used_at IS NULL AND expires_at > now()
        """,
        purpose,
        digest,
    )
    return _token(row)


async def consume(conn: asyncpg.Connection, purpose: str, digest: bytes) -> OneTimeToken | None:
    """Use the token with this digest: None when it is unknown, used, expired or for another purpose."""
    row = await conn.fetchrow(
        f"""
        UPDATE rowgate.one_time_tokens SET used_at = now()
        WHERE digest = $2 AND purpose = $1 AND used_at IS NULL AND expires_at > now()
        RETURNING {_RETURNING}
        """,
        purpose,
        digest,
    )
    return _token(row)


async def invalidate(conn: asyncpg.Connection, user_id: str, purpose: str) -> None:
    """Use up every outstanding token of ``purpose`` for the user (a newer one replaces them)."""
    await conn.execute(
        """
        UPDATE rowgate.one_time_tokens SET used_at = now()
        WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL
        """,
        user_id,
        purpose,
    )
