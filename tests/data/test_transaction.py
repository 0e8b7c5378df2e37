"""The data API's transaction: settings are local to it, hold exactly the caller's values whatever
characters they contain, and are gone when it ends; reads cannot write.  A single read rowgate
built runs alone unless it runs as the second wall's role (which needs the transaction's
settings); the statement timeout holds either way."""

from __future__ import annotations

import pytest

from rowgate.config import load_settings
from rowgate.config.data import DataSettings
from rowgate.errors import Forbidden, GatewayTimeout
from rowgate.proxy.data.execute import RunAs
from rowgate.proxy.data.runner import DataRunner
from rowgate.rls.subject import Subject

pytestmark = pytest.mark.integration

HOSTILE = [
    "o'brien",
    "a\\'; SET LOCAL role = postgres; --",
    "\\\\x00 \\ ' '' E'x' $$ $q$ ; COMMIT; DROP TABLE x",
    "ünïcødé ✓",
]

NAMES = ("rowgate.user_id", "rowgate.org_id", "rowgate.role", "rowgate.groups", "statement_timeout")


@pytest.mark.parametrize("value", HOSTILE)
async def test_settings_hold_exactly_the_callers_values_and_end_with_the_transaction(
    migrated_database: str, value: str
) -> None:
    settings = DataSettings(pool_min_size=1, pool_max_size=1, statement_timeout="1500ms")  # type: ignore[arg-type]
    runner = await DataRunner.connect(migrated_database, settings)
    subject = Subject(value, value[::-1], frozenset({"admin", "user"}), value.upper())
    try:
        async with runner.transaction(subject, run_as=None, readonly=True) as session:
            seen = [await session.conn.fetchval("SELECT current_setting($1, true)", name) for name in NAMES]
        assert seen == [value, value[::-1], value.upper(), "admin,user", "1500ms"]
        async with runner.pool.connection() as conn:  # the same (only) connection, after the transaction
            after = [await conn.fetchval("SELECT current_setting($1, true)", name) for name in NAMES[:4]]
            assert all(v in (None, "") for v in after)
            assert await conn.fetchval("SHOW statement_timeout") == "1500ms"  # the connection's own
    finally:
        await runner.close()


async def test_a_read_only_transaction_refuses_writes(migrated_database: str) -> None:
    runner = await DataRunner.connect(migrated_database, load_settings(environ={}).data)
    try:
        with pytest.raises(Forbidden) as raised:
            async with runner.transaction(Subject.guest(), run_as=None, readonly=True) as session:
                await session.conn.execute("CREATE TEMP TABLE sneaky (x int)")
        assert raised.value.code == "read_only"
    finally:
        await runner.close()


async def test_a_single_read_runs_alone_without_settings_when_nothing_needs_them(
    migrated_database: str,
) -> None:
    runner = await DataRunner.connect(migrated_database, DataSettings(pool_max_size=1))
    try:
        async with runner.single_read(
            Subject("u1", "t1", frozenset({"user"}), "member"), run_as=None
        ) as session:
            assert not session.conn.is_in_transaction()
            seen = [await session.conn.fetchval("SELECT current_setting($1, true)", n) for n in NAMES[:4]]
        assert all(v in (None, "") for v in seen)
    finally:
        await runner.close()


async def test_a_single_read_gets_the_transaction_when_it_runs_as_a_role(migrated_database: str) -> None:
    runner = await DataRunner.connect(migrated_database, DataSettings(pool_max_size=1))
    try:
        subject = Subject("u1", "t1", frozenset({"user"}), "member")
        run_as = RunAs(await _login(runner), "v1")
        async with runner.single_read(subject, run_as=run_as) as session:
            assert session.conn.is_in_transaction()
            seen = [await session.conn.fetchval("SELECT current_setting($1, true)", n) for n in NAMES[:4]]
        assert seen == ["u1", "t1", "member", "user"]
        with pytest.raises(Forbidden) as raised:
            async with runner.single_read(subject, run_as=run_as) as session:
                await session.conn.execute("CREATE TEMP TABLE sneaky (x int)")
        assert raised.value.code == "read_only"
    finally:
        await runner.close()


@pytest.mark.parametrize("single", [True, False])
async def test_the_statement_timeout_holds_inside_and_outside_transactions(
    migrated_database: str, single: bool
) -> None:
    settings = DataSettings(pool_max_size=1, statement_timeout="50ms")  # type: ignore[arg-type]
    runner = await DataRunner.connect(migrated_database, settings)
    subject = Subject.guest()

    async def sleep() -> None:
        opened = (
            runner.single_read(subject, run_as=None)
            if single
            else runner.transaction(subject, run_as=None, readonly=True)
        )
        async with opened as session:
            await session.conn.execute("SELECT pg_sleep(2)")

    try:
        with pytest.raises(GatewayTimeout):
            await sleep()
        async with runner.single_read(subject, run_as=None) as session:  # the connection is usable again
            assert await session.conn.fetchval("SELECT 1") == 1
    finally:
        await runner.close()


async def _login(runner: DataRunner) -> str:
    async with runner.pool.connection() as conn:
        return str(await conn.fetchval("SELECT current_user"))
