"""MFA rows: a user's TOTP factor (secret sealed), their backup codes (digests), org policies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True, slots=True)
class Factor:
    sealed_secret: bytes
    confirmed: bool


async def factor(conn: asyncpg.Connection, user_id: str, *, lock: bool = False) -> Factor | None:
    """The user's factor (pending or confirmed); ``lock`` holds it for this transaction."""
    row = await conn.fetchrow(
        "SELECT secret, confirmed_at IS NOT NULL FROM rowgate.mfa_factors WHERE user_id = $1"
        + (" FOR UPDATE" if lock else ""),
        user_id,
    )
    return None if row is None else Factor(row[0], row[1])


async def enabled(conn: asyncpg.Connection, user_id: str) -> bool:
    """True when the user has a confirmed factor (sign-in asks for a code)."""
    found = await conn.fetchval(
        "SELECT 1 FROM rowgate.mfa_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL", user_id
    )
    return found is not None


async def put_pending(conn: asyncpg.Connection, user_id: str, sealed_secret: bytes) -> None:
    """Store a new pending factor, replacing a pending one (never a confirmed one)."""
    await conn.execute(
        """
        INSERT INTO rowgate.mfa_factors (user_id, secret) VALUES ($1, $2)
        ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = now()
        WHERE rowgate.mfa_factors.confirmed_at IS NULL
        """,
        user_id,
        sealed_secret,
    )


async def confirm(conn: asyncpg.Connection, user_id: str) -> None:
    await conn.execute(
        "UPDATE rowgate.mfa_factors SET confirmed_at = now() WHERE user_id = $1 AND confirmed_at IS NULL",
        user_id,
    )


async def remove(conn: asyncpg.Connection, user_id: str) -> None:
    """Delete the factor and the backup codes."""
    await conn.execute("DELETE FROM rowgate.mfa_factors WHERE user_id = $1", user_id)
    await conn.execute("DELETE FROM rowgate.mfa_backup_codes WHERE user_id = $1", user_id)


async def replace_backup_codes(conn: asyncpg.Connection, user_id: str, digests: Sequence[bytes]) -> None:
    await conn.execute("DELETE FROM rowgate.mfa_backup_codes WHERE user_id = $1", user_id)
    await conn.executemany(
        "INSERT INTO rowgate.mfa_backup_codes (user_id, digest) VALUES ($1, $2)",
        [(user_id, d) for d in digests],
    )


async def use_backup_code(conn: asyncpg.Connection, user_id: str, digest: bytes) -> bool:
    """Mark the unused code with this digest used; False when there is none (wrong or used)."""
    status = await conn.execute(
        """
        UPDATE rowgate.mfa_backup_codes SET used_at = now()
        WHERE user_id = $1 AND digest = $2 AND used_at IS NULL
        """,
        user_id,
        digest,
    )
    return bool(status == "UPDATE 1")


async def backup_codes_left(conn: asyncpg.Connection, user_id: str) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM rowgate.mfa_backup_codes WHERE user_id = $1 AND used_at IS NULL", user_id
        )
    )
