"""Sessions (one per sign-in on a device) and their refresh tokens."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from rowgate.errors import Unauthorized


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    user_id: str
    org_id: str | None
    device: str
    ip: str | None
    amr: tuple[str, ...]
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


_COLUMNS = "id::text, user_id::text, org_id::text, device, ip, amr, created_at, last_seen_at, expires_at"


def _session(row: asyncpg.Record) -> Session:
    values = list(row.values())
    values[5] = tuple(values[5])
    return Session(*values)


async def create(
    conn: asyncpg.Connection,
    *,
    user_id: str,
    org_id: str | None,
    device: str,
    ip: str,
    amr: Sequence[str],
    lifetime: timedelta,
) -> Session:
    row = await conn.fetchrow(
        f"""
        INSERT INTO rowgate.sessions (user_id, org_id, device, ip, amr, expires_at, mfa_at)
        VALUES ($1, $2, $3, $4, $5, now() + $6::interval, CASE WHEN 'mfa' = ANY($5::text[]) THEN now() END)
        RETURNING {_COLUMNS}
        """,
        user_id,
        org_id,
        device,
        ip,
        list(amr),
        lifetime,
    )
    assert row is not None
    return _session(row)


async def active(conn: asyncpg.Connection, user_id: str) -> list[Session]:
    """The user's sessions that are neither revoked nor expired, most recently used first."""
    rows = await conn.fetch(
        f"""
        SELECT {_COLUMNS} FROM rowgate.sessions
        WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now()
        ORDER BY last_seen_at DESC, created_at DESC
        """,
        user_id,
    )
    return [_session(r) for r in rows]


async def revoke(conn: asyncpg.Connection, user_id: str, session_id: str) -> bool:
    """Revoke one of the user's own live sessions; False when there is no such session."""
    status = await conn.execute(
        """
        UPDATE rowgate.sessions SET revoked_at = now()
        WHERE id = $2 AND user_id = $1 AND revoked_at IS NULL
        """,
        user_id,
        session_id,
    )
    return str(status).endswith(" 1")


async def revoke_all(conn: asyncpg.Connection, user_id: str, *, keep: str | None = None) -> list[str]:
    """Revoke every live session of the user except ``keep``; their ids."""
    rows = await conn.fetch(
        """
        UPDATE rowgate.sessions SET revoked_at = now()
        WHERE user_id = $1 AND revoked_at IS NULL AND ($2::uuid IS NULL OR id <> $2::uuid)
        RETURNING id::text
        """,
        user_id,
        keep,
    )
    return [r[0] for r in rows]


async def live_ids(conn: asyncpg.Connection, user_id: str) -> list[str]:
    """Ids of the user's sessions that are not revoked (expired ones included: their access
    tokens may still be inside their lifetime)."""
    rows = await conn.fetch(
        "SELECT id::text FROM rowgate.sessions WHERE user_id = $1 AND revoked_at IS NULL", user_id
    )
    return [r[0] for r in rows]


async def issue_refresh(conn: asyncpg.Connection, session_id: str, digest: bytes, lifetime: timedelta) -> int:
    """Store a new refresh token (its digest) for the session; its row id."""
    token_id = await conn.fetchval(
        """
        INSERT INTO rowgate.refresh_tokens (digest, session_id, expires_at)
        VALUES ($1, $2, now() + $3::interval) RETURNING id
        """,
        digest,
        session_id,
        lifetime,
    )
    return int(token_id)


async def revoked_since(conn: asyncpg.Connection, seconds: float) -> dict[str, float]:
    """Sessions revoked in the last ``seconds``: id → when (epoch seconds, the database's clock)."""
    rows = await conn.fetch(
        """
        SELECT session_id::text, extract(epoch FROM revoked_at)::float8
        FROM rowgate.revoked_sessions WHERE revoked_at > now() - make_interval(secs => $1)
        """,
        seconds,
    )
    return {row[0]: row[1] for row in rows}


async def require_live(conn: asyncpg.Connection, session_id: str | None) -> None:
    """Refuse (401 ``session_revoked``) when ``session_id`` names a session that was revoked or
    deleted: the database's word, for what would outlive the session (an API key, a new session).
    ``None`` (no session: an API key acting) passes."""
    if session_id is None:
        return
    live = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM rowgate.sessions WHERE id = $1::uuid AND revoked_at IS NULL)",
        session_id,
    )
    if not live:
        raise Unauthorized("This session was signed out; sign in again.", code="session_revoked")
