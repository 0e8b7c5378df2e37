"""Identities at other providers linked to rowgate users."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True, slots=True)
class LinkedAccount:
    provider: str
    subject: str
    user_id: str
    email: str | None
    created_at: datetime


_COLUMNS = "provider, subject, user_id::text, email, created_at"


async def owner(conn: asyncpg.Connection, provider: str, subject: str) -> str | None:
    """The id of the user this identity is linked to, if any."""
    value = await conn.fetchval(
        "SELECT user_id::text FROM rowgate.linked_accounts WHERE provider = $1 AND subject = $2",
        provider,
        subject,
    )
    return None if value is None else str(value)


async def link(
    conn: asyncpg.Connection, user_id: str, provider: str, subject: str, email: str | None
) -> bool:
    """Link the identity to the user; False when it, or another identity of this provider, is
    linked already (the caller decides what that means)."""
    row = await conn.fetchval(
        """
        INSERT INTO rowgate.linked_accounts (provider, subject, user_id, email) VALUES ($1, $2, $3, $4)
        ON CONFLICT DO NOTHING RETURNING 1
        """,
        provider,
        subject,
        user_id,
        email,
    )
    return row is not None


async def of_user(conn: asyncpg.Connection, user_id: str) -> list[LinkedAccount]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM rowgate.linked_accounts WHERE user_id = $1 ORDER BY provider", user_id
    )
    return [LinkedAccount(*r.values()) for r in rows]


async def unlink(conn: asyncpg.Connection, user_id: str, provider: str) -> bool:
    deleted = await conn.fetchval(
        "DELETE FROM rowgate.linked_accounts WHERE user_id = $1 AND provider = $2 RETURNING 1",
        user_id,
        provider,
    )
    return deleted is not None
