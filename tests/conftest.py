"""Shared fixtures: real PostgreSQL and Redis, a fresh database per test.

``ROWGATE_TEST_DATABASE_URL`` names a server and a database the tests may connect to in order to
create others (default: the local server, database ``postgres``); ``ROWGATE_TEST_REDIS_URL``
a Redis server (default: the local one).  Every test gets its own database, and its own Redis key
prefix, so tests run in any order and several test runs can share the servers.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

ADMIN_URL = os.environ.get("ROWGATE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("ROWGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def database_url(name: str) -> str:
    """``ADMIN_URL`` pointed at database ``name``."""
    parts = urlsplit(ADMIN_URL)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture
async def fresh_database() -> AsyncIterator[str]:
    """A new, empty database for this test; its URL.  Dropped afterwards."""
    name = f"rgtest_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield database_url(name)
    finally:
        admin = await asyncpg.connect(ADMIN_URL)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
def redis_prefix() -> str:
    """A Redis key prefix no other test uses."""
    return f"rgtest:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def migrated_database(fresh_database: str) -> str:
    """A fresh database with rowgate's migrations applied; its URL."""
    from auth.migrate import migrate

    conn = await asyncpg.connect(fresh_database)
    try:
        await migrate(conn, progress=lambda _: None)
    finally:
        await conn.close()
    return fresh_database
