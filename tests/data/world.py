"""The world the data API tests live in: two tenants, their members, three tables with policies,
deterministic rows, and the Python reference of what each caller may see."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

DATA = Path(__file__).parent
POLICIES = DATA / "policies.yaml"
SCHEMA = DATA / "schema.sql"

ORG_A = "0a000000-0000-4000-8000-00000000000a"
ORG_B = "0b000000-0000-4000-8000-00000000000b"
ADMIN_A = "a0000000-0000-4000-8000-0000000000a0"
USER_A = "a0000000-0000-4000-8000-0000000000a1"
USER_A2 = "a0000000-0000-4000-8000-0000000000a2"
USER_B = "b0000000-0000-4000-8000-0000000000b1"
ADMIN_B = "b0000000-0000-4000-8000-0000000000b0"

TASK_COLUMNS = (
    "id",
    "org_id",
    "created_by",
    "project_id",
    "title",
    "internal_notes",
    "priority",
    "done",
    "due",
    "estimate",
    "tags",
    "meta",
    "created_at",
)
POST_COLUMNS = ("id", "org_id", "created_by", "title", "status")
PROJECT_COLUMNS = ("id", "org_id", "created_by", "name", "archived")


@dataclass(frozen=True)
class Caller:
    """A test caller: who it is, and how it maps to the policy groups."""

    name: str
    user_id: str | None
    org_id: str | None
    role: str | None

    @property
    def groups(self) -> frozenset[str]:
        if self.user_id is None:
            return frozenset({"guest"})
        return frozenset({"admin", "user"}) if self.role == "admin" else frozenset({"user"})


CALLERS = {
    "admin_a": Caller("admin_a", ADMIN_A, ORG_A, "admin"),
    "user_a": Caller("user_a", USER_A, ORG_A, "member"),
    "user_a2": Caller("user_a2", USER_A2, ORG_A, "member"),
    "user_b": Caller("user_b", USER_B, ORG_B, "member"),
    "admin_b": Caller("admin_b", ADMIN_B, ORG_B, "admin"),
    "guest": Caller("guest", None, None, None),
}

WORDS = ("login bug", "billing", "search bug", "docs", "onboarding", "Bug bash", "export", "import")


def task_id(i: int) -> str:
    return str(uuid.UUID(int=0x7A5C << 112 | i))


def post_id(i: int) -> str:
    return str(uuid.UUID(int=0x9057 << 112 | i))


def seed_tasks() -> list[dict[str, Any]]:
    rows = []
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(24):
        org = ORG_A if i % 3 else ORG_B
        owners = (ADMIN_A, USER_A, USER_A2, None) if org == ORG_A else (USER_B, ADMIN_B)
        rows.append(
            {
                "id": task_id(i),
                "org_id": org,
                "created_by": owners[i % len(owners)],
                "project_id": (1 if org == ORG_A else 3) if i % 2 else None,
                "title": f"{WORDS[i % len(WORDS)]} {i}",
                "internal_notes": f"secret {i}",
                "priority": i % 5,
                "done": i % 4 == 0,
                "due": None if i % 5 == 0 else date(2024, 2, 1) + timedelta(days=(i * 7) % 11),
                "estimate": None if i % 6 == 0 else (Decimal(i) / 4).quantize(Decimal("0.01")),
                "tags": ["urgent"] if i % 7 == 0 else [],
                "meta": {"n": i} if i % 2 else None,
                "created_at": start + timedelta(hours=i),
            }
        )
    return rows


def seed_projects() -> list[dict[str, Any]]:
    return [
        {"id": 1, "org_id": ORG_A, "created_by": ADMIN_A, "name": "alpha", "archived": False},
        {"id": 2, "org_id": ORG_A, "created_by": USER_A, "name": "beta", "archived": True},
        {"id": 3, "org_id": ORG_B, "created_by": USER_B, "name": "gamma", "archived": False},
        {"id": 4, "org_id": ORG_B, "created_by": ADMIN_B, "name": "delta", "archived": False},
    ]


def seed_posts() -> list[dict[str, Any]]:
    orgs = (ORG_A, ORG_B, None)
    owners = (USER_A, USER_B, ADMIN_A, USER_A2)
    return [
        {
            "id": post_id(i),
            "org_id": orgs[i % 3],
            "created_by": owners[i % 4],
            "title": f"post {i}",
            "status": "published" if i % 2 else "draft",
        }
        for i in range(8)
    ]


async def build(conn: asyncpg.Connection) -> None:
    """Create the tables and rows in a fresh database."""
    await conn.execute(SCHEMA.read_text())
    for table, rows in (("projects", seed_projects()), ("tasks", seed_tasks()), ("posts", seed_posts())):
        columns = list(rows[0])
        marks = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        await conn.executemany(sql, [[_db(row[c]) for c in columns] for row in rows])
    await conn.execute("INSERT INTO unlisted VALUES (1, $1, 'nobody sees this')", ORG_A)
    await conn.execute("SELECT setval(pg_get_serial_sequence('projects', 'id'), 100)")
    await conn.execute("ANALYZE")


def _db(value: Any) -> Any:
    if isinstance(value, dict):
        import json

        return json.dumps(value)
    return value


# The reference: what each caller may see, computed in Python from the seed.


def visible_tasks(caller: Caller) -> list[dict[str, Any]]:
    if "user" not in caller.groups or caller.org_id is None:
        return []
    hide = "admin" not in caller.groups
    return [
        {k: v for k, v in row.items() if not (hide and k == "internal_notes")}
        for row in seed_tasks()
        if row["org_id"] == caller.org_id
    ]


def visible_posts(caller: Caller) -> list[dict[str, Any]]:
    rows = seed_posts()
    if "user" in caller.groups:
        return rows
    return [row for row in rows if row["status"] == "published"]


def visible_projects(caller: Caller) -> list[dict[str, Any]]:
    if "user" not in caller.groups:
        return []
    return [row for row in seed_projects() if row["org_id"] == caller.org_id]


def as_json(value: Any) -> Any:
    """A seed value as the data API renders it."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def row_json(row: dict[str, Any]) -> dict[str, Any]:
    return {k: as_json(v) for k, v in row.items()}
