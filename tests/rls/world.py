"""The little world the rls tests live in: two tenants, their users, four tables with policies,
a deterministic seed, and helpers to fill a fresh database with it (the template each test's
world is copied from) and to add a non-owner role for the native policies."""

from __future__ import annotations

import random
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from rowgate.rls.policy import PolicySet, load_policies
from rowgate.rls.schema import Schema
from rowgate.rls.subject import Subject

DATA = Path(__file__).with_name("data")
POLICIES_FILE = DATA / "policies.yaml"

ORG_A = "0a000000-0000-4000-8000-00000000000a"
ORG_B = "0b000000-0000-4000-8000-00000000000b"
ORG_C = "0c000000-0000-4000-8000-00000000000c"  # no test subject belongs to it
ADMIN_A = "a0000000-0000-4000-8000-0000000000a1"
USER_A = "a0000000-0000-4000-8000-0000000000a2"
USER_A2 = "a0000000-0000-4000-8000-0000000000a3"
USER_B = "b0000000-0000-4000-8000-0000000000b1"
USERS = (ADMIN_A, USER_A, USER_A2, USER_B)

SUBJECTS: dict[str, Subject] = {
    "admin_a": Subject(ADMIN_A, ORG_A, frozenset({"admin", "user"}), "owner"),
    "user_a": Subject(USER_A, ORG_A, frozenset({"user"}), "member"),
    "user_b": Subject(USER_B, ORG_B, frozenset({"user"}), "member"),
    "guest_a": Subject(None, ORG_A, frozenset({"guest"})),
    "guest": Subject(None, None, frozenset({"guest"})),
    "homeless": Subject(USER_A2, None, frozenset({"user"}), "member"),
    # Roles the policies name as role:<name> groups (a built-in role and a custom one).
    "viewer_a": Subject(USER_A2, ORG_A, frozenset({"user"}), "viewer"),
    "editor_a": Subject(USER_A, ORG_A, frozenset({"user"}), "editor"),
}

SCHEMA: dict[str, dict[str, str]] = {
    "public.projects": {
        "id": "bigint",
        "org_id": "uuid",
        "created_by": "uuid",
        "name": "text",
        "archived": "boolean",
        "budget": "integer",
    },
    "public.tasks": {
        "id": "bigint",
        "org_id": "uuid",
        "created_by": "uuid",
        "project_id": "bigint",
        "title": "text",
        "internal_notes": "text",
        "priority": "integer",
        "done": "boolean",
    },
    "public.posts": {
        "id": "bigint",
        "org_id": "uuid",
        "created_by": "uuid",
        "title": "text",
        "status": "text",
        "score": "integer",
    },
    "public.notes": {
        "id": "bigint",
        "org_id": "uuid",
        "created_by": "uuid",
        "body": "text",
        "pinned": "boolean",
    },
    "public.payroll": {"id": "bigint", "org_id": "uuid", "salary": "integer"},
}

#: Column defaults as the catalogs spell them (what ``rls.introspect`` reads).
DEFAULTS: dict[str, dict[str, str]] = {
    "public.projects": {"archived": "false"},
    "public.tasks": {"priority": "0", "done": "false"},
    "public.posts": {"status": "'draft'::text"},
    "public.notes": {"pinned": "false"},
    "public.payroll": {},
}

TABLES = ("projects", "tasks", "posts", "notes")


def world_schema() -> Schema:
    """The schema of ``data/schema.sql``, with types and defaults."""
    return Schema(SCHEMA, defaults=DEFAULTS)


def world_policies() -> PolicySet:
    """The policy set of ``data/policies.yaml``."""
    return load_policies(POLICIES_FILE)


def seed_rows(seed: int = 7) -> dict[str, list[tuple[Any, ...]]]:
    """Deterministic rows for every table."""
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "omega", "x", "needle", "zeta"]
    rows: dict[str, list[tuple[Any, ...]]] = {t: [] for t in (*TABLES, "payroll")}
    for i in range(1, 9):
        org = ORG_A if i % 2 else ORG_B
        owner = rng.choice((ADMIN_A, USER_A, USER_A2)) if org == ORG_A else USER_B
        rows["projects"].append(
            (i, org, owner, f"project {rng.choice(words)} {i}", i % 3 == 0, rng.randint(0, 9) * 100)
        )
    for i in range(1, 41):
        org = ORG_A if i % 3 else ORG_B
        owner = rng.choice((ADMIN_A, USER_A, USER_A2, None)) if org == ORG_A else rng.choice((USER_B, None))
        project = rng.choice([p[0] for p in rows["projects"] if p[1] == org] + [None])
        title = f"{rng.choice(words)} {i}"
        rows["tasks"].append((i, org, owner, project, title, f"secret {i}", rng.randint(0, 9), i % 4 == 0))
    for i in range(1, 13):
        org = rng.choice((ORG_A, ORG_B, None))
        owner = rng.choice(USERS)
        rows["posts"].append(
            (i, org, owner, f"post {rng.choice(words)} {i}", rng.choice(("draft", "published")), i)
        )
    for i in range(1, 17):
        org = ORG_A if i % 2 else ORG_B
        owner = rng.choice((ADMIN_A, USER_A, USER_A2)) if org == ORG_A else USER_B
        rows["notes"].append((i, org, owner, f"note {rng.choice(words)} {i}", i % 5 == 0))
    for table, row in (
        ("projects", (90, ORG_C, None, "not a number", False, 0)),
        ("tasks", (90, ORG_C, None, None, "not a number", "secret", 0, False)),
        ("notes", (90, ORG_C, None, "not a number", False)),
    ):
        rows[table].append(row)
    rows["payroll"] = [(1, ORG_A, 100), (2, ORG_B, 200)]
    rows["rowgate.users"] = [
        (user, f"{user[:8]}@example.com", f"$argon2id$secret-{user[-2:]}") for user in USERS
    ]
    rows["rowgate.memberships"] = [
        (ADMIN_A, ORG_A, "owner"),
        (USER_A, ORG_A, "member"),
        (USER_B, ORG_B, "member"),
    ]
    return rows


async def fill(conn: asyncpg.Connection) -> None:
    """Create the tables and rows in the connected (fresh) database."""
    await conn.execute((DATA / "schema.sql").read_text())
    for table, rows in seed_rows().items():
        if rows:
            marks = ", ".join(f"${i}" for i in range(1, len(rows[0]) + 1))
            await conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
    await conn.execute("ANALYZE")


async def add_role(conn: asyncpg.Connection) -> str:
    """Create a role that is not the tables' owner with every privilege on them (in the connected
    database); returns its name (drop it with ``drop_role``)."""
    role = f"rgtest_{uuid.uuid4().hex[:12]}"
    await conn.execute(f'CREATE ROLE "{role}" NOLOGIN')
    await conn.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"')
    return role


async def drop_role(admin_url: str, database_url: str, role: str) -> None:
    """Remove a role made by ``add_role`` (its privileges first, in the database that has them)."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f'DROP OWNED BY "{role}"')
    finally:
        await conn.close()
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP ROLE IF EXISTS "{role}"')
    finally:
        await conn.close()
