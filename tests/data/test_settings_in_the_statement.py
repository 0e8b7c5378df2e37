"""A single read behind the second wall makes the caller's settings in its own statement: one
round trip, as the wall's role, under the native policies alone (these tests give the database
statements that rowgate's rewriter did not confine, so only the wall stands between callers).

What must hold: the read sees exactly its caller's rows, whichever caller used the connection
before; no setting outlives the statement, whether it ends, fails, is cancelled or times out;
without settings the role sees nothing; the read cannot write; a connection that is not in the
wall's role reads nothing; and a partitioned table keeps the transaction."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from rowgate.config.data import DataSettings
from rowgate.errors import Forbidden, GatewayTimeout, ResponseTooLarge, ServiceUnavailable
from rowgate.proxy.data.catalog import read_catalog
from rowgate.proxy.data.execute import RunAs
from rowgate.proxy.data.runner import DataRunner
from rowgate.rls.introspect import introspect
from rowgate.rls.policy import load_policies
from rowgate.rls.subject import Subject
from rowgate.rls.template import Rewritten
from rowgate.rls.wall import install, plan_for
from tests.data import world
from tests.data.test_second_wall import drop_roles

pytestmark = pytest.mark.integration

NAMES = ("rowgate.user_id", "rowgate.org_id", "rowgate.role", "rowgate.groups", "rowgate.policy")
#: Every task, with nothing of rowgate's confining it: the native policies alone decide.
ALL_TASKS = "SELECT id::text AS id, org_id::text AS org_id FROM tasks ORDER BY id"
SETTINGS_SEEN = (
    "SELECT current_user::text AS who, current_setting('rowgate.org_id', true) AS org, "
    "current_setting('transaction_read_only') AS read_only"
)


@dataclass
class Wall:
    url: str
    run_as: RunAs


@pytest.fixture
async def wall(world_database: str) -> AsyncIterator[Wall]:
    """The world's database with the second wall up for a role of this test's own."""
    role = f"rgwall_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(world_database)
    try:
        policies = load_policies(world.POLICIES)
        schema = await introspect(conn, ["public"])
        found = await install(conn, await plan_for(conn, policies, schema, role=role, schemas=["public"]))
        assert found.up, found.problems
    finally:
        await conn.close()
    yield Wall(world_database, RunAs(role, policies.version))
    await drop_roles(world_database, role)


@contextlib.asynccontextmanager
async def runner_of(url: str, connections: int = 1, **settings: Any) -> AsyncIterator[DataRunner]:
    runner = await DataRunner.connect(
        url, DataSettings(pool_min_size=1, pool_max_size=connections, **settings)
    )
    try:
        yield runner
    finally:
        await runner.close()


def subject_of(caller: str) -> Subject:
    who = world.CALLERS[caller]
    return Subject(who.user_id, who.org_id, who.groups, who.role)


def statement(sql: str) -> Rewritten:
    return Rewritten(sql, (), "select", ())


async def read(runner: DataRunner, wall: Wall, caller: str, sql: str = ALL_TASKS) -> list[dict[str, Any]]:
    async with runner.single_read(subject_of(caller), run_as=wall.run_as, ordinary=True) as session:
        assert not session.conn.is_in_transaction()  # alone: no BEGIN, no COMMIT
        return [dict(r) for r in await session.fetch(statement(sql), ())]


def tasks_of(caller: str) -> list[dict[str, Any]]:
    visible = world.visible_tasks(world.CALLERS[caller])
    return sorted(({"id": str(t["id"]), "org_id": t["org_id"]} for t in visible), key=lambda t: t["id"])


async def bare(runner: DataRunner) -> tuple[list[Any], int, str]:
    """On the pool's (only) connection, with no statement of rowgate's: the settings there, how
    many tasks the connection sees, and whether it is read-only."""
    async with runner.pool.connection() as conn:
        settings = [await conn.fetchval("SELECT current_setting($1, true)", name) for name in NAMES]
        seen = await conn.fetchval("SELECT count(*) FROM tasks")
        read_only = await conn.fetchval("SHOW transaction_read_only")
    return settings, seen, read_only


async def assert_nothing_left(runner: DataRunner) -> None:
    settings, seen, read_only = await bare(runner)
    assert all(v in (None, "") for v in settings), settings
    assert seen == 0  # the wall's role without a caller's settings: no row at all
    assert read_only == "off"


async def test_each_caller_reads_its_own_rows_on_a_connection_another_used_before(wall: Wall) -> None:
    assert tasks_of("user_a")
    assert tasks_of("user_b")
    assert not tasks_of("guest")
    async with runner_of(wall.url) as runner:
        # Past PostgreSQL's first five plans of a statement, into its generic plan.
        for caller in ["user_a", "user_b", "guest", "admin_a", "admin_b"] * 3:
            assert await read(runner, wall, caller) == tasks_of(caller), caller
        await assert_nothing_left(runner)


async def test_the_settings_hold_while_the_statement_reads_and_are_gone_after(wall: Wall) -> None:
    async with runner_of(wall.url) as runner:
        seen = await read(runner, wall, "user_b", SETTINGS_SEEN)
        assert seen == [{"who": wall.run_as.role, "org": world.ORG_B, "read_only": "on"}]
        await assert_nothing_left(runner)
        async with runner.pool.connection() as conn:
            assert await conn.fetchval("SELECT current_user") == wall.run_as.role  # the session's role


async def test_the_read_cannot_write(wall: Wall) -> None:
    conn = await asyncpg.connect(wall.url)
    try:  # a sequence the role may draw from: only the read-only transaction stops it
        await conn.execute(f'CREATE SEQUENCE sneaky; GRANT USAGE ON SEQUENCE sneaky TO "{wall.run_as.role}"')
    finally:
        await conn.close()
    async with runner_of(wall.url) as runner:
        with pytest.raises(Forbidden) as raised:
            await read(runner, wall, "admin_a", "SELECT nextval('sneaky') AS id")
        assert raised.value.code == "read_only"
        await assert_nothing_left(runner)


async def test_a_statement_that_fails_after_the_settings_leaves_none(wall: Wall) -> None:
    async with runner_of(wall.url, max_response_bytes=1024) as runner:
        with pytest.raises(ResponseTooLarge):  # refused by the database, row by row, after the settings
            await read(runner, wall, "admin_a", "SELECT id, repeat('x', 600) AS pad FROM tasks")
        await assert_nothing_left(runner)
        assert (await read(runner, wall, "user_b"))[:1] == tasks_of("user_b")[:1]


SLOW = f"SELECT id::text AS id, org_id::text AS org_id FROM ({ALL_TASKS}) t WHERE pg_sleep(0.05) IS NOT NULL"


async def test_a_statement_cancelled_or_timed_out_after_the_settings_leaves_none(wall: Wall) -> None:
    async with runner_of(wall.url, statement_timeout="150ms") as runner:
        with pytest.raises(GatewayTimeout):
            await read(runner, wall, "admin_a", SLOW)
        await assert_nothing_left(runner)
        assert await read(runner, wall, "user_b") == tasks_of("user_b")

        reading = asyncio.ensure_future(read(runner, wall, "admin_a", SLOW))
        await asyncio.sleep(0.08)  # the settings are made, the rows are being read
        reading.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reading
        assert await read(runner, wall, "user_b") == tasks_of("user_b")
        await assert_nothing_left(runner)


async def test_concurrent_callers_of_two_tenants_on_two_connections_see_only_their_own(wall: Wall) -> None:
    callers = ["user_a", "user_b", "guest", "admin_b", "user_a2", "admin_a"]
    async with runner_of(wall.url, connections=2, statement_timeout="1s") as runner:

        async def one(i: int) -> None:
            caller = callers[i % len(callers)]
            if i % 5 == 4:  # now and then a request cut short while it reads
                reading = asyncio.ensure_future(read(runner, wall, caller, SLOW))
                await asyncio.sleep(0.01 * (i % 3))
                reading.cancel()
                with contextlib.suppress(asyncio.CancelledError, GatewayTimeout):
                    await reading
                return
            assert await read(runner, wall, caller) == tasks_of(caller), caller

        await asyncio.gather(*(one(i) for i in range(60)))
        for _ in range(2):
            await assert_nothing_left(runner)


async def test_a_connection_out_of_the_walls_role_reads_nothing_and_takes_it_again(wall: Wall) -> None:
    async with runner_of(wall.url) as runner:
        assert await read(runner, wall, "user_b") == tasks_of("user_b")
        async with runner.pool.connection() as conn:
            await conn.execute("RESET role")  # behind the runner's back: the login may read it all
        with pytest.raises(ServiceUnavailable) as raised:
            await read(runner, wall, "user_b")
        assert raised.value.code == "data_role_lost"
        assert await read(runner, wall, "user_b") == tasks_of("user_b")


async def test_reads_without_the_wall_run_as_the_login_again(wall: Wall) -> None:
    async with runner_of(wall.url) as runner:
        await read(runner, wall, "user_a")
        async with runner.single_read(subject_of("user_a"), run_as=None, ordinary=True) as session:
            rows = await session.fetch(statement(ALL_TASKS), ())
            login = await session.conn.fetchval("SELECT current_user")
        assert login != wall.run_as.role
        assert len(rows) == len(world.seed_tasks())  # the login: no row policy binds it
        await read(runner, wall, "user_a")
        async with runner.own_connection() as conn:  # rowgate's own work: the catalog, the wall
            assert await conn.fetchval("SELECT current_user") == login


async def test_a_partitioned_table_is_not_ordinary(world_database: str) -> None:
    conn = await asyncpg.connect(world_database)
    try:
        await conn.execute(
            "CREATE TABLE parted (id int, org_id uuid) PARTITION BY LIST (org_id);"
            "CREATE TABLE parted_rest PARTITION OF parted DEFAULT;"
            "CREATE VIEW task_titles AS SELECT id, title FROM tasks"
        )
        tables = await read_catalog(conn, ["public"])
    finally:
        await conn.close()
    assert tables["public.tasks"].ordinary
    assert not tables["public.parted"].ordinary
    assert not tables["public.task_titles"].ordinary
