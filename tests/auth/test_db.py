"""The database edge: which errors mean "the database is down" (503), and which do not; connections
go to callers in the order they asked."""

from __future__ import annotations

import asyncio
import itertools
import socket

import pytest

from rowgate.auth.db import Database
from rowgate.config.schema import DatabaseSettings
from rowgate.errors import ServiceUnavailable

pytestmark = pytest.mark.integration


async def test_an_unrelated_os_error_inside_a_connection_is_not_a_database_outage(
    migrated_database: str,
) -> None:
    db = await Database.connect(migrated_database, DatabaseSettings())
    try:
        with pytest.raises(FileNotFoundError):
            async with db.connection():
                open("/nonexistent/template.txt")  # noqa: SIM115
        assert await db.fetchval("SELECT 1") == 1  # the connection went back to the pool
    finally:
        await db.close()


async def test_a_server_that_is_not_there_is_a_503() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ServiceUnavailable, match="not reachable"):
        await Database.connect(f"postgresql://postgres@127.0.0.1:{port}/x", DatabaseSettings())


async def test_connections_go_to_callers_in_the_order_they_asked(migrated_database: str) -> None:
    # 16 callers take turns on three connections, each asking again as soon as it is served: with
    # asyncpg's own queue, callers asking just as the connection comes back jump ahead of those
    # already waiting (over a hundred times in this run), which is how a few requests wait for
    # hundreds of milliseconds under load.
    db = await Database.connect(migrated_database, DatabaseSettings(pool_min_size=3, pool_max_size=3))
    tickets = itertools.count()
    served: list[int] = []

    async def caller() -> None:
        for _ in range(20):
            ticket = next(tickets)
            async with db.connection() as conn:
                served.append(ticket)
                await conn.fetchval("SELECT 1")

    try:
        await asyncio.gather(*(caller() for _ in range(16)))
    finally:
        await db.close()
    assert served == sorted(served)
    assert len(served) == 320
