"""Fixtures for the rls tests: the test policies and schema, a rewriter, and a built database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest

from rls.policy import PolicySet
from rls.rewrite import Rewriter
from tests.conftest import ADMIN_URL
from tests.rls import world


@pytest.fixture(scope="session")
def policies() -> PolicySet:
    return world.world_policies()


@pytest.fixture(scope="session")
def rewriter(policies: PolicySet) -> Rewriter:
    return Rewriter(policies, "postgres", schema=world.world_schema())


@dataclass
class World:
    """A fresh database holding the test world, and a connection to it as its owner."""

    url: str
    conn: asyncpg.Connection
    role: str


@pytest.fixture
async def built(fresh_database: str) -> AsyncIterator[World]:
    conn = await asyncpg.connect(fresh_database)
    role = await world.build(conn)
    try:
        yield World(fresh_database, conn, role)
    finally:
        await conn.close()
        await world.drop_role(ADMIN_URL, fresh_database, role)
