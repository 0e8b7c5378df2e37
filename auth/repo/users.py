"""Users, organisations and memberships."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

ADMIN_ROLE = "admin"


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    email_verified_at: datetime | None
    password_hash: str | None
    name: str | None
    created_at: datetime

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None


@dataclass(frozen=True, slots=True)
class Membership:
    org_id: str
    org_name: str
    role: str


_USER_COLUMNS = "id::text, email, email_verified_at, password_hash, name, created_at"


def _user(row: asyncpg.Record | None) -> User | None:
    return None if row is None else User(*row.values())


async def insert_user(
    conn: asyncpg.Connection,
    email: str,
    password_hash: str | None,
    name: str | None,
    *,
    verified: bool = False,
) -> User | None:
    """The new user, or None when the (normalised) address is taken."""
    row = await conn.fetchrow(
        f"""
        INSERT INTO rowgate.users (email, password_hash, name, email_verified_at)
        VALUES ($1, $2, $3, CASE WHEN $4::boolean THEN now() END)
        ON CONFLICT (email) DO NOTHING
        RETURNING {_USER_COLUMNS}
        """,
        email,
        password_hash,
        name,
        verified,
    )
    return _user(row)


async def by_email(conn: asyncpg.Connection, email: str) -> User | None:
    return _user(await conn.fetchrow(f"SELECT {_USER_COLUMNS} FROM rowgate.users WHERE email = $1", email))


async def by_id(conn: asyncpg.Connection, user_id: str, *, for_update: bool = False) -> User | None:
    lock = " FOR UPDATE" if for_update else ""
    return _user(
        await conn.fetchrow(f"SELECT {_USER_COLUMNS} FROM rowgate.users WHERE id = $1{lock}", user_id)
    )


async def set_password(conn: asyncpg.Connection, user_id: str, password_hash: str) -> None:
    await conn.execute(
        "UPDATE rowgate.users SET password_hash = $2, updated_at = now() WHERE id = $1",
        user_id,
        password_hash,
    )


async def replace_password_hash(conn: asyncpg.Connection, user_id: str, old: str, new: str) -> None:
    """Store a re-computed hash, unless the password changed meanwhile."""
    await conn.execute(
        "UPDATE rowgate.users SET password_hash = $3 WHERE id = $1 AND password_hash = $2", user_id, old, new
    )


async def mark_verified(conn: asyncpg.Connection, user_id: str, email: str) -> bool:
    """Mark ``email`` verified if it is still the user's address; True when it is."""
    status = await conn.execute(
        """
        UPDATE rowgate.users SET email_verified_at = coalesce(email_verified_at, now()), updated_at = now()
        WHERE id = $1 AND email = $2
        """,
        user_id,
        email,
    )
    return str(status).endswith(" 1")


async def create_org(conn: asyncpg.Connection, name: str, owner_id: str) -> Membership:
    """A new organisation with ``owner_id`` as its admin."""
    org_id = await conn.fetchval("INSERT INTO rowgate.orgs (name) VALUES ($1) RETURNING id::text", name)
    await conn.execute(
        "INSERT INTO rowgate.memberships (org_id, user_id, role) VALUES ($1, $2, $3)",
        org_id,
        owner_id,
        ADMIN_ROLE,
    )
    return Membership(org_id, name, ADMIN_ROLE)


async def primary_membership(conn: asyncpg.Connection, user_id: str) -> Membership | None:
    """The organisation a new session starts in: the user's oldest membership."""
    row = await conn.fetchrow(
        """
        SELECT m.org_id::text, o.name, m.role FROM rowgate.memberships m
        JOIN rowgate.orgs o ON o.id = m.org_id
        WHERE m.user_id = $1 ORDER BY m.created_at, m.org_id LIMIT 1
        """,
        user_id,
    )
    return None if row is None else Membership(*row.values())


async def membership(conn: asyncpg.Connection, user_id: str, org_id: str) -> Membership | None:
    row = await conn.fetchrow(
        """
        SELECT m.org_id::text, o.name, m.role FROM rowgate.memberships m
        JOIN rowgate.orgs o ON o.id = m.org_id WHERE m.user_id = $1 AND m.org_id = $2
        """,
        user_id,
        org_id,
    )
    return None if row is None else Membership(*row.values())


async def orgs_that_would_lose_their_last_admin(
    conn: asyncpg.Connection, user_id: str, admin_roles: Sequence[str]
) -> list[str]:
    """Organisations where the user is the only admin while others remain (rows locked first, so
    a concurrent role change cannot slip in between the check and the deletion)."""
    await conn.execute(
        "SELECT 1 FROM rowgate.orgs WHERE id IN (SELECT org_id FROM rowgate.memberships WHERE user_id = $1) "
        "ORDER BY id FOR UPDATE",
        user_id,
    )
    rows = await conn.fetch(
        """
        SELECT m.org_id::text FROM rowgate.memberships m
        WHERE m.user_id = $1 AND m.role = ANY($2::text[])
          AND EXISTS (SELECT 1 FROM rowgate.memberships o WHERE o.org_id = m.org_id AND o.user_id <> $1)
          AND NOT EXISTS (
            SELECT 1 FROM rowgate.memberships a
            WHERE a.org_id = m.org_id AND a.user_id <> $1 AND a.role = ANY($2::text[]))
        ORDER BY 1
        """,
        user_id,
        list(admin_roles),
    )
    return [r[0] for r in rows]


async def delete_user(conn: asyncpg.Connection, user_id: str) -> list[str]:
    """Delete the user (sessions, memberships and tokens cascade) and every organisation left
    without members; returns the ids of the deleted organisations."""
    org_ids = [
        r[0] for r in await conn.fetch("SELECT org_id FROM rowgate.memberships WHERE user_id = $1", user_id)
    ]
    await conn.execute("DELETE FROM rowgate.users WHERE id = $1", user_id)
    rows = await conn.fetch(
        """
        DELETE FROM rowgate.orgs o WHERE o.id = ANY($1::uuid[])
        AND NOT EXISTS (SELECT 1 FROM rowgate.memberships m WHERE m.org_id = o.id)
        RETURNING o.id::text
        """,
        org_ids,
    )
    return [r[0] for r in rows]


async def drop_password(conn: asyncpg.Connection, user_id: str) -> None:
    """Remove the user's password (the account then signs in by link or provider until one is set)."""
    await conn.execute(
        "UPDATE rowgate.users SET password_hash = NULL, updated_at = now() WHERE id = $1", user_id
    )
