"""The database edge: which errors mean "the database is down" (503), and which do not."""

from __future__ import annotations

import socket

import pytest

from auth.db import Database
from config.errors import ServiceUnavailable
from config.schema import DatabaseSettings

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
