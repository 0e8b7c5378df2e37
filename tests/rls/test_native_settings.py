"""The native policies read each of the caller's settings in a scalar subquery, which PostgreSQL
computes once per statement (an InitPlan) instead of once per row.  Through real PostgreSQL, as
the wall's role under the exported policies alone (nothing of the rewriter's), they must stay
exactly as strict: a setting that is missing (never set on the connection) or empty lets no row
through the policies that need it, for reads and writes alike; and a prepared statement whose
generic plan is cached reads the settings afresh at every execution, so callers of two tenants
taking turns on one connection each reach their own rows only."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping

import asyncpg
import pytest

from rowgate.proxy.data.execute import subject_settings
from rowgate.rls.export import export_postgres
from rowgate.rls.subject import Subject
from tests.rls import world
from tests.rls.conftest import World
from tests.rls.outcomes import VERSION

pytestmark = pytest.mark.integration

R_PROJECTS = "SELECT count(*) FROM projects"
R_TASKS = "SELECT count(*) FROM tasks"
R_NOTES = "SELECT count(*) FROM notes"
INSERT_TASK = "INSERT INTO tasks (id, org_id, created_by, title) VALUES (500, '{org}', '{user}', 'x')"
U_TASKS = "UPDATE tasks SET title = title"
U_PROJECTS = "UPDATE projects SET name = name"
D_NOTES = "DELETE FROM notes"

#: A subject, the setting taken from it, and statements its policies then let through nowhere.
CASES = [
    ("admin_a", "rowgate.policy", (R_PROJECTS, R_TASKS, R_NOTES, INSERT_TASK, U_TASKS, U_PROJECTS, D_NOTES)),
    ("admin_a", "rowgate.org_id", (R_PROJECTS, R_TASKS, R_NOTES, INSERT_TASK, U_TASKS, U_PROJECTS, D_NOTES)),
    ("admin_a", "rowgate.groups", (R_PROJECTS, R_TASKS, INSERT_TASK, U_PROJECTS)),
    ("user_a", "rowgate.user_id", (R_NOTES, U_TASKS, D_NOTES)),
    ("editor_a", "rowgate.role", (U_PROJECTS,)),
]


def settings_of(subject: Subject) -> dict[str, str]:
    """What the data layer sets for ``subject``, with the policy version the world's policies carry."""
    return {**subject_settings(subject), "rowgate.policy": VERSION}


async def walled(built: World) -> None:
    await built.conn.execute(export_postgres(world.world_policies(), world.world_schema(), role=built.role))


@contextlib.asynccontextmanager
async def as_the_role(
    conn: asyncpg.Connection, role: str, settings: Mapping[str, str]
) -> AsyncIterator[None]:
    """A transaction (rolled back) as ``role`` with ``settings`` made, and no other of rowgate's."""
    transaction = conn.transaction()
    await transaction.start()
    try:
        for name, value in settings.items():
            await conn.execute("SELECT set_config($1, $2, true)", name, value)
        await conn.execute(f'SET LOCAL ROLE "{role}"')
        yield
    finally:
        await transaction.rollback()


async def reached(conn: asyncpg.Connection, sql: str) -> int | str:
    """How many rows ``sql`` counted or wrote, or ``"refused"`` (row security refused a row)."""
    try:
        async with conn.transaction():  # a savepoint: a refusal leaves the transaction usable
            if sql.startswith("SELECT"):
                return int(await conn.fetchval(sql))
            return int((await conn.execute(sql)).rsplit(" ", 1)[-1])
    except asyncpg.InsufficientPrivilegeError as error:
        if "row-level security" not in str(error):
            raise
        return "refused"


async def outcomes(
    url: str, role: str, settings: Mapping[str, str], statements: tuple[str, ...]
) -> list[int | str]:
    """The statements' outcomes on a connection of their own: a setting left out of ``settings`` was
    never set on it, so ``current_setting(name, true)`` is NULL, not ''."""
    conn = await asyncpg.connect(url)
    try:
        async with as_the_role(conn, role, settings):
            return [await reached(conn, sql) for sql in statements]
    finally:
        await conn.close()


@pytest.mark.parametrize(("caller", "setting", "statements"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
async def test_a_missing_or_empty_setting_lets_nothing_through(
    built: World, caller: str, setting: str, statements: tuple[str, ...]
) -> None:
    await walled(built)
    subject = world.SUBJECTS[caller]
    full = settings_of(subject)
    sqls = tuple(sql.format(org=subject.tenant_id, user=subject.user_id) for sql in statements)

    allowed = await outcomes(built.url, built.role, full, sqls)
    assert all(isinstance(n, int) and n > 0 for n in allowed), allowed  # the setting is what decides

    missing = {name: value for name, value in full.items() if name != setting}
    assert await outcomes(built.url, built.role, missing, sqls) == [
        "refused" if sql.startswith("INSERT") else 0 for sql in sqls
    ]
    empty = {**full, setting: ""}
    assert await outcomes(built.url, built.role, empty, sqls) == [
        "refused" if sql.startswith("INSERT") else 0 for sql in sqls
    ]


async def test_a_cached_generic_plan_reads_each_callers_settings_afresh(built: World) -> None:
    await walled(built)
    conn = built.conn
    own = {
        org: sorted(
            r[0] for r in await conn.fetch("SELECT id FROM tasks WHERE org_id = $1 AND priority < 5", org)
        )
        for org in (world.ORG_A, world.ORG_B)
    }
    assert own[world.ORG_A]
    assert own[world.ORG_B]
    mine = {  # a task each caller may update (it created it: the self policy)
        caller: await conn.fetchval(
            "SELECT min(id) FROM tasks WHERE org_id = $1 AND created_by = $2 AND priority < 5",
            world.SUBJECTS[caller].tenant_id,
            world.SUBJECTS[caller].user_id,
        )
        for caller in ("user_a", "user_b")
    }
    assert all(mine.values()), mine
    await conn.execute("SET plan_cache_mode = force_generic_plan")
    try:
        read = await conn.prepare("SELECT id FROM tasks ORDER BY id")
        foreign = await conn.prepare("SELECT count(*) FROM tasks WHERE org_id <> $1::uuid")
        move = await conn.prepare("UPDATE tasks SET org_id = $1::uuid WHERE id = $2")
        forge = await conn.prepare(
            "INSERT INTO tasks (id, org_id, created_by, title) VALUES (501, $1, $2, 'x')"
        )
        for caller in ["user_a", "user_b"] * 4:
            subject = world.SUBJECTS[caller]
            other = world.ORG_B if subject.tenant_id == world.ORG_A else world.ORG_A
            async with as_the_role(conn, built.role, settings_of(subject)):
                assert [r[0] for r in await read.fetch()] == own[str(subject.tenant_id)], caller
                assert await foreign.fetchval(subject.tenant_id) == 0
                # Another tenant's rows cannot be reached, nor one's own moved or written there.
                async with conn.transaction():
                    await move.fetch(subject.tenant_id, own[other][0])
                    assert move.get_statusmsg() == "UPDATE 0"
                with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
                    async with conn.transaction():
                        await move.fetch(other, mine[caller])
                with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
                    async with conn.transaction():
                        await forge.fetch(other, subject.user_id)
        plans = await conn.fetch(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1",
            "SELECT id FROM tasks ORDER BY id",
        )
        assert [tuple(r) for r in plans] == [(8, 0)]  # one cached plan served every caller
    finally:
        await conn.execute("RESET plan_cache_mode")


async def test_the_generic_plan_keeps_the_tenant_index_with_the_settings_as_initplans(built: World) -> None:
    await walled(built)
    conn = built.conn
    async with as_the_role(conn, built.role, settings_of(world.SUBJECTS["user_a"])):
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan; SET LOCAL enable_seqscan = off")
        await conn.execute("PREPARE listing AS SELECT id FROM tasks")
        plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN EXECUTE listing"))
        await conn.execute("DEALLOCATE listing")
    assert "tasks_org" in plan, plan
    assert "Index Cond: (org_id = $" in plan, plan  # the tenant's setting, compared in the index
    assert "InitPlan" in plan, plan
    assert "current_setting" not in plan.split("InitPlan", 1)[0], plan  # no setting read per row
