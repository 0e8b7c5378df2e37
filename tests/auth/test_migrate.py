"""Migrations: applied once, in order, safely when several processes start at the same time."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import asyncpg
import pytest

from rowgate.auth.migrate import Migration, bundled_migrations, migrate
from rowgate.errors import ConfigError

pytestmark = pytest.mark.integration

_MIGRATE_ONCE = """
import asyncio, sys, asyncpg
from rowgate.auth.migrate import migrate
async def main():
    conn = await asyncpg.connect(sys.argv[1])
    try:
        done = await migrate(conn, progress=lambda _: None)
        print(len(done))
    finally:
        await conn.close()
asyncio.run(main())
"""


async def test_applies_every_bundled_migration_once(fresh_database: str) -> None:
    conn = await asyncpg.connect(fresh_database)
    try:
        first = await migrate(conn, progress=lambda _: None)
        second = await migrate(conn, progress=lambda _: None)
        versions = [r["version"] for r in await conn.fetch("SELECT version FROM rowgate.schema_migrations")]
    finally:
        await conn.close()
    assert [m.version for m in first] == [m.version for m in bundled_migrations()]
    assert second == []
    assert sorted(versions) == [m.version for m in bundled_migrations()]


async def test_a_default_statement_timeout_does_not_stop_migrations(fresh_database: str) -> None:
    conn = await asyncpg.connect(fresh_database)
    try:
        name = await conn.fetchval("SELECT current_database()")
        await conn.execute(f'ALTER DATABASE "{name}" SET statement_timeout = 1')  # one millisecond
    finally:
        await conn.close()
    conn = await asyncpg.connect(fresh_database)
    try:
        applied = await migrate(conn, progress=lambda _: None)
    finally:
        await conn.close()
    assert [m.version for m in applied] == [m.version for m in bundled_migrations()]


async def test_two_processes_migrating_at_once_do_not_race(fresh_database: str) -> None:
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _MIGRATE_ONCE,
            fresh_database,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    results = [await p.communicate() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err.decode() for _, err in results]
    applied = sorted(int(out) for out, _ in results)
    # One process applied everything; the other waited for the lock and found nothing to do.
    assert applied == [0, len(bundled_migrations())]
    conn = await asyncpg.connect(fresh_database)
    try:
        count = await conn.fetchval("SELECT count(*) FROM rowgate.schema_migrations")
    finally:
        await conn.close()
    assert count == len(bundled_migrations())


async def test_an_edited_applied_migration_is_refused(fresh_database: str) -> None:
    conn = await asyncpg.connect(fresh_database)
    try:
        await migrate(
            conn, [Migration(1, "first", "CREATE TABLE rowgate.t (a int);")], progress=lambda _: None
        )
        with pytest.raises(ConfigError, match="0001_first was changed after it was applied"):
            await migrate(
                conn, [Migration(1, "first", "CREATE TABLE rowgate.t (b int);")], progress=lambda _: None
            )
    finally:
        await conn.close()


async def test_a_failing_migration_leaves_nothing_half_applied(fresh_database: str) -> None:
    conn = await asyncpg.connect(fresh_database)
    try:
        broken = Migration(1, "broken", "CREATE TABLE rowgate.t (a int); SELECT no_such_function();")
        with pytest.raises(asyncpg.exceptions.UndefinedFunctionError):
            await migrate(conn, [broken], progress=lambda _: None)
        exists = await conn.fetchval("SELECT to_regclass('rowgate.t') IS NOT NULL")
        recorded = await conn.fetchval("SELECT count(*) FROM rowgate.schema_migrations")
    finally:
        await conn.close()
    assert exists is False
    assert recorded == 0
