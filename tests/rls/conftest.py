"""Fixtures for the rls tests: the test policies and schema, a rewriter, and built databases
(one per test, or one per module for table-driven suites whose cases roll back), each a copy of
a template holding the test world."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from rowgate.rls.policy import PolicySet
from rowgate.rls.rewrite import Rewriter
from tests.databases import ADMIN_URL, Template, new_database, prepare
from tests.rls import world

#: The test world's tables and rows (its role is made per copy: roles belong to the whole server).
WORLD = Template("rls_world", world.fill, (world.DATA / "schema.sql", Path(world.__file__)))


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
    return World(url, conn, await world.add_role(conn))


async def _close_world(built: World) -> None:
    await built.conn.close()
    await world.drop_role(ADMIN_URL, built.url, built.role)


@pytest.fixture(scope="session")
def world_template() -> str:
    """The name of the template database holding the test world (built once per session)."""
    return prepare(WORLD)


@pytest.fixture
async def built(world_template: str) -> AsyncIterator[World]:
    """The test world in a database of its own."""
    async with new_database(world_template) as url:
        opened = await _open_world(url)
        try:
            yield opened
        finally:
            await _close_world(opened)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_world(world_template: str) -> AsyncIterator[World]:
    """The test world in one database for a whole module (tests must roll back what they do)."""
    async with new_database(world_template) as url:
        opened = await _open_world(url)
        try:
            yield opened
        finally:
            await _close_world(opened)
