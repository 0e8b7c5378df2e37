"""Shared fixtures: real PostgreSQL and Redis, a database per test.

``ROWGATE_TEST_DATABASE_URL`` names a server and a database the tests may connect to in order to
create others (default: the local server, database ``postgres``); ``ROWGATE_TEST_REDIS_URL``
a Redis server (default: the local one).  Every test gets its own database (a copy of a template
migrated once, see ``tests.databases``), and its own Redis key prefix, so tests run in any order
and several test runs can share the servers.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from rowgate.auth import migrations
from rowgate.auth.migrate import migrate
from rowgate.config import DEFAULT_CONFIG, Settings, load_settings
from tests.databases import Template, close_copier, new_database, prepare
from tests.servers import PrivatePostgres, PrivateRedis

SettingsFactory = Callable[..., Settings]

REDIS_URL = os.environ.get("ROWGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
MIGRATIONS = Path(migrations.__file__).parent

#: argon2id at its cheapest: a server's start-up (its dummy hash) and every signup or sign-in cost
#: milliseconds instead of a fifth of a second.  ``make_settings`` uses it unless a test names
#: its own parameters or production mode (which refuses it); the production parameters are
#: covered by ``tests/auth/test_hashing.py`` and ``tests/proxy/test_production_argon2.py``.  The
#: longest ``max_wait``: on a busy machine the idle-priority hashing thread may wait for a CPU, and
#: tests of concurrent signups must not meet admission control (``test_hashing_admission`` does).
CHEAP_ARGON2 = {"auth.argon2.memory_cost": 64, "auth.argon2.time_cost": 1, "auth.argon2.max_wait": "1m"}


async def _migrate(conn: asyncpg.Connection) -> None:
    await migrate(conn, progress=lambda _: None)


#: Rowgate's migrations applied: what most tests start from.
MIGRATED = Template("migrated", _migrate, (*MIGRATIONS.glob("*.sql"), MIGRATIONS.parent / "migrate.py"))


def pytest_sessionfinish() -> None:
    close_copier()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files holding a ``slow`` test first, each file's tests kept together and in order: the
    processes take files in this order (``--no-loadscope-reorder``), so an end-to-end file of a
    minute or two (schemathesis, the differential test) starts early instead of last."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    first = {path: index for index, path in enumerate(dict.fromkeys(item.path for item in items))}
    items.sort(key=lambda item: (item.path not in slow, first[item.path]))


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """How many processes ``-n auto`` (the default, see pyproject.toml) starts: two per CPU, since
    a test spends most of its time waiting on PostgreSQL, Redis, a browser or a child process;
    none (the tests run in this process) for benchmarks, which measure one process, and for a run
    of one file, which ``--dist loadfile`` would give to a single worker anyway."""
    if config.getoption("benchmark_enable", default=False):
        return 0
    paths = [arg.split("::")[0] for arg in config.args]
    if len(paths) == 1 and Path(paths[0]).is_file():
        return 0
    return 2 * len(os.sched_getaffinity(0))


@dataclass
class RunningServer:
    url: str
    app: web.Application


@pytest.fixture
async def fresh_database() -> AsyncIterator[str]:
    """A new, empty database for this test; its URL.  Dropped afterwards."""
    async with new_database() as url:
        yield url


@pytest.fixture(scope="session")
def migrated_template() -> str:
    """The name of the template database holding rowgate's migrations (built once per session)."""
    return prepare(MIGRATED)


@pytest.fixture
def database_template(migrated_template: str) -> str:
    """The template this test's ``migrated_database`` is copied from (a folder's conftest may
    choose one that holds more, such as a test world)."""
    return migrated_template


@pytest.fixture
def redis_prefix() -> str:
    """A Redis key prefix no other test uses."""
    return f"rgtest:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def migrated_database(database_template: str) -> AsyncIterator[str]:
    """A database of this test's own with rowgate's migrations applied; its URL.  Dropped afterwards."""
    async with new_database(database_template) as url:
        yield url


@pytest.fixture
def make_settings(migrated_database: str, redis_prefix: str, tmp_path: Path) -> SettingsFactory:
    """Settings from the bundled config file, pointed at this test's database, Redis prefix and
    temporary data folder, hashing passwords with ``CHEAP_ARGON2`` (outside production mode);
    keyword arguments are dotted-key overrides (``**{"routes.default": "public"}``)."""

    def make(**overrides: Any) -> Settings:
        cheap = {} if overrides.get("mode") == "production" else CHEAP_ARGON2
        base = {
            **cheap,
            "database.url": migrated_database,
            "redis.url": REDIS_URL,
            "redis.key_prefix": redis_prefix,
            "data_dir": str(tmp_path / "data"),
            "server.port": 0,
            "logging.access_log": False,
        }
        return load_settings(DEFAULT_CONFIG, overrides={**base, **overrides}, environ={})

    return make


@pytest.fixture
async def start_rowgate() -> AsyncIterator[Callable[[Settings], Awaitable[RunningServer]]]:
    """Start rowgate (the real HTTP server) for given settings; stopped at the end of the test."""
    async with rowgate_starter() as start:
        yield start


@contextlib.asynccontextmanager
async def rowgate_starter() -> AsyncIterator[Callable[[Settings], Awaitable[RunningServer]]]:
    """What ``start_rowgate`` gives: starts rowgate servers, stopped when the block ends."""
    runners: list[Any] = []

    async def start(settings: Settings) -> RunningServer:
        from rowgate.proxy.app import build_app
        from rowgate.proxy.server import start as start_server

        app = build_app(settings)
        runner, port = await start_server(app, settings, host="127.0.0.1", port=0)
        runners.append(runner)
        return RunningServer(f"http://127.0.0.1:{port}", app)

    yield start
    for runner in reversed(runners):
        await runner.cleanup()


@pytest.fixture
async def start_app() -> AsyncIterator[Callable[[web.Application], Awaitable[str]]]:
    """Serve any aiohttp app (a test upstream) on a free port; its base URL."""
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> str:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield start
    for runner in reversed(runners):
        await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session for talking to servers started by the test."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A Redis server of this test's own, running (the test may stop, start and flush it)."""
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def private_postgres() -> AsyncIterator[PrivatePostgres]:
    """A PostgreSQL server of this test's own, running (the test may stop and start it)."""
    server = PrivatePostgres()
    await server.open()
    try:
        yield server
    finally:
        await server.close()
