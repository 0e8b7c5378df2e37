"""SQL shared by the organisation services; every function runs on the caller's connection."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True, slots=True)
class Member:
    user_id: str
    email: str
    name: str | None
    role: str
    joined_at: datetime


_MEMBER = """
SELECT m.user_id::text, u.email, u.name, m.role, m.created_at
FROM rowgate.memberships m JOIN rowgate.users u ON u.id = m.user_id
"""


async def lock_org(conn: asyncpg.Connection, org_id: str) -> bool:
    """Lock the organisation's row for this transaction (serialises decisions such as "the last
    admin stays" or "at most N keys"); False when the organisation does not exist."""
    return await conn.fetchval("SELECT true FROM rowgate.orgs WHERE id = $1 FOR UPDATE", org_id) is not None


async def members(
    conn: asyncpg.Connection, org_id: str, *, limit: int, after: tuple[datetime, str] | None = None
) -> list[Member]:
    """Up to ``limit`` members in the order they joined, from just after ``after`` (the joining
    time and user id of the last member of the previous page)."""
    order = " ORDER BY m.created_at, m.user_id LIMIT "
    if after is None:
        rows = await conn.fetch(_MEMBER + "WHERE m.org_id = $1" + order + "$2", org_id, limit)
    else:
        rows = await conn.fetch(
            _MEMBER + "WHERE m.org_id = $1 AND (m.created_at, m.user_id) > ($2, $3::uuid)" + order + "$4",
            org_id,
            after[0],
            after[1],
            limit,
        )
    return [Member(*r.values()) for r in rows]


async def member(conn: asyncpg.Connection, org_id: str, user_id: str, *, lock: bool = False) -> Member | None:
    suffix = " FOR UPDATE OF m" if lock else ""
    row = await conn.fetchrow(_MEMBER + "WHERE m.org_id = $1 AND m.user_id = $2" + suffix, org_id, user_id)
    return None if row is None else Member(*row.values())


async def count_with_roles(conn: asyncpg.Connection, org_id: str, roles: Collection[str]) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM rowgate.memberships WHERE org_id = $1 AND role = ANY($2::text[])",
            org_id,
            list(roles),
        )
    )


async def revoke_sessions_in(conn: asyncpg.Connection, org_id: str, user_id: str) -> list[str]:
    """Mark the user's live sessions in this organisation revoked; their ids (for the revocation
    list, after commit)."""
    rows = await conn.fetch(
        """
        UPDATE rowgate.sessions SET revoked_at = now()
        WHERE user_id = $1 AND org_id = $2 AND revoked_at IS NULL
        RETURNING id::text
        """,
        user_id,
        org_id,
    )
    return [r[0] for r in rows]


async def revoke_keys_of(conn: asyncpg.Connection, org_id: str, user_id: str) -> list[str]:
    """Revoke every live API key ``user_id`` created in this organisation; their ids."""
    rows = await conn.fetch(
        """
        UPDATE rowgate.api_keys SET revoked_at = now()
        WHERE org_id = $1 AND created_by = $2 AND revoked_at IS NULL
        RETURNING id::text
        """,
        org_id,
        user_id,
    )
    return [r[0] for r in rows]


async def custom_role_permissions(conn: asyncpg.Connection, org_id: str, name: str) -> list[str] | None:
    """The permissions of the organisation's custom role ``name``, or None when it has none."""
    value = await conn.fetchval(
        "SELECT permissions FROM rowgate.custom_roles WHERE org_id = $1 AND name = $2", org_id, name
    )
    return None if value is None else list(value)
