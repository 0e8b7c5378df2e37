"""Fixtures for the rls tests: the test policies and schema, a rewriter, and built databases
(one per test, or one per module for table-driven suites whose cases roll back)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest
import pytest_asyncio

from rowgate.rls.policy import PolicySet
from rowgate.rls.rewrite import Rewriter
from tests.conftest import ADMIN_URL, database_url
from tests.rls import world


@pytest.fixture(scope="session")
def policies() -> PolicySet:
    return world.world_policies()


@pytest.fixture(scope="session")
def rewriter(policies: PolicySet) -> Rewriter:
    return Rewriter(policies, "postgres", schema=world.world_schema())


@dataclass
class World:
    """A database holding the test world, and a connection to it as its owner."""

    url: str
    conn: asyncpg.Connection
    role: str


async def _open_world(url: str) -> World:
    conn = await asyncpg.connect(url)
    return World(url, conn, await world.build(conn))


async def _close_world(built: World) -> None:
    await built.conn.close()
    await world.drop_role(ADMIN_URL, built.url, built.role)


@pytest.fixture
async def built(fresh_database: str) -> AsyncIterator[World]:
    """The test world in a fresh database of its own."""
    opened = await _open_world(fresh_database)
    try:
        yield opened
    finally:
        await _close_world(opened)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_world() -> AsyncIterator[World]:
    """The test world in one database for a whole module (tests must roll back what they do)."""
    name = f"rgtest_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    opened = await _open_world(database_url(name))
    try:
        yield opened
    finally:
        await _close_world(opened)
        admin = await asyncpg.connect(ADMIN_URL)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
