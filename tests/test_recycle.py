"""A recycled test database reads exactly as a new copy of its template, and whatever a test can
change beyond rows makes the recycler give up (the database is then dropped): ``tests.recycle``.

"Exactly" is what ``pg_dump`` writes of the two, schema, rows (in the order they lie in) and
sequences, except the database's own name and the dump's random ``\\restrict`` key."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests import recycle
from tests.data.conftest import WORLD
from tests.databases import ADMIN_URL, Copier, copier, database_url, prepare

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def template() -> str:
    """The data world: rowgate's migrations (with a trigger, foreign keys, sequences) and tables
    holding rows (an identity column among them)."""
    return prepare(WORLD)


@pytest.fixture
async def copy(template: str) -> AsyncIterator[str]:
    """A new copy of the template made here (not by the copier), dropped afterwards; its name."""
    name = f"rgtest_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        yield name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def dump(name: str) -> str:
    done = subprocess.run(
        ["pg_dump", "--no-sync", database_url(name)], capture_output=True, text=True, check=True, timeout=60
    )
    lines = done.stdout.replace(name, "<database>").splitlines()
    return "\n".join(line for line in lines if not line.startswith(("\\restrict", "\\unrestrict")))


async def pristine(name: str) -> recycle.Pristine:
    conn = await asyncpg.connect(database_url(name))
    try:
        assert await recycle.supported(conn), "these tests need PostgreSQL 15 or later"
        return await recycle.pristine(conn)
    finally:
        await conn.close()


async def run(name: str, *statements: str) -> None:
    """Run ``statements`` in a session of their own on database ``name``, then leave."""
    conn = await asyncpg.connect(database_url(name))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


#: What a test does to rows: rowgate's tables (a user, a session whose revocation trigger fires,
#: an audit event), the world's seeded rows changed and deleted, rows added, sequences used, in a
#: transaction that commits and one that rolls back.
ROW_CHANGES = (
    "INSERT INTO rowgate.users (id, email) VALUES (gen_random_uuid(), 'a@example.com')",
    "INSERT INTO rowgate.sessions (user_id, expires_at) SELECT id, now() + interval '1 h' FROM rowgate.users",
    "UPDATE rowgate.sessions SET revoked_at = now()",
    "INSERT INTO rowgate.audit_events (event) VALUES ('test')",
    "UPDATE rowgate.alert_cursor SET last_event_id = 42",
    "UPDATE projects SET name = name || '!' WHERE id = (SELECT min(id) FROM projects)",
    "DELETE FROM tasks WHERE ctid IN (SELECT ctid FROM tasks LIMIT 3)",
    "INSERT INTO projects (org_id, name) VALUES (gen_random_uuid(), 'new')",
    "SELECT nextval('rowgate.mail_outbox_id_seq')",
    "BEGIN; INSERT INTO posts (title) VALUES ('rolled back'); ROLLBACK",
)


async def test_a_recycled_database_dumps_as_a_new_copy(copy: str, template: str) -> None:
    state = await pristine(copy)
    before = dump(copy)
    await run(copy, *ROW_CHANGES)
    assert dump(copy) != before  # the changes happened
    counters = await recycle.recycle(database_url(copy), state, {})
    assert counters is not None
    assert dump(copy) == before
    # Recycled twice: the counters it gave are the baseline of the next round.
    await run(copy, *ROW_CHANGES)
    assert await recycle.recycle(database_url(copy), state, counters) is not None
    assert dump(copy) == before


async def test_a_database_only_read_is_handed_back_as_it_is(copy: str) -> None:
    state = await pristine(copy)
    before = dump(copy)
    await run(copy, "SELECT count(*) FROM tasks", "SELECT * FROM rowgate.users FOR UPDATE")
    assert await recycle.recycle(database_url(copy), state, {}) is not None
    assert dump(copy) == before


#: Changes beyond rows, each of which must make the recycler give up.
BEYOND_ROWS = {
    "a table": ("CREATE TABLE extra (id int)",),
    "a temporary table": ("CREATE TEMP TABLE scratch (id int)",),
    "an index": ("CREATE INDEX ON tasks (title)",),
    "a column": ("ALTER TABLE tasks ADD COLUMN extra int",),
    "row-level security": ("ALTER TABLE tasks ENABLE ROW LEVEL SECURITY",),
    "a policy": ("CREATE POLICY mine ON tasks USING (true)",),
    "a grant": ("GRANT SELECT ON tasks TO PUBLIC",),
    "a function": ("CREATE FUNCTION one() RETURNS int LANGUAGE sql AS 'SELECT 1'",),
    "a comment": ("COMMENT ON TABLE tasks IS 'noted'",),
    "a sequence's definition": ("ALTER SEQUENCE projects_id_seq INCREMENT BY 5",),
    "a truncate": ("TRUNCATE posts",),
    "statistics": ("ANALYZE tasks",),
    "a database setting": ("ALTER DATABASE {db} SET work_mem = '8MB'",),
    "a role's database setting": ("ALTER ROLE postgres IN DATABASE {db} SET work_mem = '8MB'",),
    "a connection limit": ("ALTER DATABASE {db} CONNECTION LIMIT 50",),
    "a database grant": ("REVOKE CONNECT ON DATABASE {db} FROM PUBLIC",),
    "a schema": ("CREATE SCHEMA extra",),
    "a large object": ("SELECT lo_create(0)",),
    "information_schema written": (
        "INSERT INTO information_schema.sql_features SELECT * FROM information_schema.sql_features LIMIT 1",
    ),
}


@pytest.mark.parametrize("change", list(BEYOND_ROWS))
async def test_a_change_beyond_rows_is_not_recycled(copy: str, change: str) -> None:
    state = await pristine(copy)
    statements = [statement.format(db=f'"{copy}"') for statement in BEYOND_ROWS[change]]
    await run(copy, *statements)  # dropping the copy drops its settings too
    assert await recycle.recycle(database_url(copy), state, {}) is None


async def test_a_database_with_a_session_on_it_is_not_recycled(copy: str) -> None:
    state = await pristine(copy)
    stays = await asyncpg.connect(database_url(copy))
    try:
        assert await recycle.recycle(database_url(copy), state, {}) is None
    finally:
        await stays.close()


async def given_back(template: str, *, stay: float) -> str:
    """How the copier takes a database back whose last session leaves ``stay`` seconds after the
    test ends (a client closing late): ``recycled`` or ``dropped``."""
    await asyncio.to_thread(copier().settle)
    before = dict(copier().outcomes)
    name = await copier().take(template)
    late = await asyncpg.connect(database_url(name))
    await late.execute(ROW_CHANGES[0])
    copier().give_back(name, template)
    await asyncio.sleep(stay)
    await late.close()
    await asyncio.to_thread(copier().settle)
    (outcome,) = (k for k, v in copier().outcomes.items() if v != before.get(k, 0))
    return outcome


async def test_the_copier_waits_for_a_late_session_within_limits(
    template: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Copier, "LEAVE_WITHIN", 2.0)
    assert await given_back(template, stay=0.1) == "recycled"
    assert await given_back(template, stay=2.5) == "dropped"


async def test_the_copier_hands_a_recycled_database_out_under_a_new_name(template: str) -> None:
    """Through the copier, as the fixtures use it: a used database comes back renamed (a client
    of the test before cannot reach it) and as new."""
    await asyncio.to_thread(copier().settle)
    recycled = copier().outcomes["recycled"]
    names: list[str] = []
    for _ in range(4):
        name = await copier().take(template)
        names.append(name)
        await run(name, *ROW_CHANGES[:4])
        copier().give_back(name, template)
        await asyncio.to_thread(copier().settle)
    assert len(set(names)) == len(names)
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        alive = await admin.fetchval(
            "SELECT count(*) FROM pg_database WHERE datname = ANY($1::text[])", names
        )
    finally:
        await admin.close()
    assert alive == 0
    assert copier().outcomes["recycled"] - recycled == 4, copier().outcomes
