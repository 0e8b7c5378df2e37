"""Fixtures for the data API tests: the test world in a database of the test's own (a copy of a
template), rowgate running on it under the test policies, and a client that calls it as any of
the world's callers."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from rowgate import rls
from rowgate.config import DEFAULT_CONFIG, Settings, load_settings
from rowgate.proxy.appkeys import SERVICES
from rowgate.proxy.data import policy
from tests.conftest import MIGRATED, RunningServer, SettingsFactory
from tests.data import world
from tests.databases import Template, prepare

Start = Callable[[Settings], Awaitable[RunningServer]]

#: What ``data_settings`` sets: the test policies, no upstream, a custom role policies may name.
WORLD_SETTINGS = {"policies": str(world.POLICIES), "upstream.url": None, "rbac.policy_roles": ["editor"]}


async def put_up_the_wall(conn: asyncpg.Connection) -> None:
    """The second wall as rowgate puts it up under ``WORLD_SETTINGS``: a rowgate started on a copy
    finds it up and changes no catalog, so the copy can be recycled (``tests.recycle``)."""
    settings = load_settings(DEFAULT_CONFIG, overrides=WORLD_SETTINGS, environ={})
    assert settings.policies is not None
    await policy.load_data_policy(settings.policies, conn, settings.data, settings.rbac.known_roles)


#: Rowgate's migrations and the test world's tables and rows, without the second wall: for the
#: tests of putting it up (``bare_world_template``).
BARE_WORLD = Template("data_world", world.build, (world.SCHEMA, Path(world.__file__)), parent=MIGRATED)
#: The same behind the second wall, what most tests start from (the wall's text comes from the
#: policies, the configuration's defaults, and ``rls``'s export of them).
WORLD = Template(
    "data_world_walled",
    put_up_the_wall,
    (
        world.POLICIES,
        Path(__file__),
        DEFAULT_CONFIG,
        Path(rls.__file__).with_name("export.py"),
        Path(rls.__file__).with_name("wall.py"),
    ),
    parent=BARE_WORLD,
)


@pytest.fixture(scope="session")
def world_template() -> str:
    """The name of the template database holding rowgate's migrations and the test world, behind
    the second wall that ``data_settings`` asks for."""
    return prepare(WORLD)


@pytest.fixture(scope="session")
def bare_world_template() -> str:
    """The name of the template database holding rowgate's migrations and the test world, with no
    second wall (a test file of putting it up overrides ``world_template`` with this one)."""
    return prepare(BARE_WORLD)


@pytest.fixture
def database_template(request: pytest.FixtureRequest, migrated_template: str) -> str:
    """A test that asks for the world gets its migrated database with the world in it."""
    if "world_database" in request.fixturenames:
        return str(request.getfixturevalue("world_template"))
    return migrated_template


@pytest.fixture
def world_database(migrated_database: str) -> str:
    """This test's migrated database, holding the test world; its URL."""
    return migrated_database


@pytest.fixture
def data_settings(make_settings: SettingsFactory, world_database: str) -> Callable[..., Settings]:
    """Settings on the world's database under the test policies (dotted overrides as keywords)."""

    def make(**overrides: Any) -> Settings:
        return make_settings(**{**WORLD_SETTINGS, **overrides})

    return make


@dataclass
class Client:
    """Calls a running rowgate as one of the world's callers."""

    http: aiohttp.ClientSession
    server: RunningServer
    #: Live sessions of enrolled callers (what minting a key asks the database about).
    sessions: dict[str, str] = field(default_factory=dict)

    async def enrol(self, caller: str | world.Caller) -> None:
        """Make a world caller a rowgate member of its organisation (both created when missing),
        signed in with a live session."""
        who = world.CALLERS[caller] if isinstance(caller, str) else caller
        db = self.server.app[SERVICES].db
        await db.execute(
            "INSERT INTO rowgate.orgs (id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            who.org_id,
            who.org_id,
        )
        await db.execute(
            "INSERT INTO rowgate.users (id, email) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            who.user_id,
            f"{who.name}@example.com",
        )
        await db.execute(
            "INSERT INTO rowgate.memberships (org_id, user_id, role) VALUES ($1, $2, $3) "
            "ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
            who.org_id,
            who.user_id,
            who.role,
        )
        self.sessions[who.name] = await db.fetchval(
            "INSERT INTO rowgate.sessions (user_id, org_id, expires_at) "
            "VALUES ($1, $2, now() + interval '1 hour') RETURNING id::text",
            who.user_id,
            who.org_id,
        )

    def headers(self, caller: str | world.Caller | None) -> dict[str, str]:
        who = world.CALLERS[caller] if isinstance(caller, str) else caller
        if who is None or who.user_id is None:
            return {}
        token = self.server.app[SERVICES].tokens.issue_access(
            sub=who.user_id,
            sid=self.sessions.get(who.name) or str(uuid.uuid4()),
            amr=["pwd"],
            org_id=who.org_id,
            role=who.role,
        )
        return {"Authorization": f"Bearer {token.token}"}

    async def call(
        self,
        method: str,
        path: str,
        caller: str | world.Caller | None = None,
        *,
        json: Any = None,
        data: Any = None,
        params: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        all_headers = {**self.headers(caller), **(headers or {})}
        async with self.http.request(
            method, self.server.url + path, json=json, data=data, params=params, headers=all_headers
        ) as response:
            body = await response.json(content_type=None) if response.content_length != 0 else None
            return response.status, body


@pytest.fixture
async def server(data_settings: Callable[..., Settings], start_rowgate: Start) -> RunningServer:
    return await start_rowgate(data_settings())


@pytest.fixture
def client(http: aiohttp.ClientSession, server: RunningServer) -> Client:
    return Client(http, server)
