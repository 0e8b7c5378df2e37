"""PostgreSQL restarted under a running rowgate: the data API answers 503 while it is gone and
serves again once it is back, without restarting rowgate.  The server is a private one (the
``pgserver`` package's binaries in a temporary folder), never the shared test server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from rowgate.config import DEFAULT_CONFIG, Settings, load_settings
from tests.conftest import REDIS_URL, RunningServer
from tests.data import world
from tests.data.conftest import Client
from tests.servers import PrivatePostgres

pytestmark = [pytest.mark.integration, pytest.mark.slow]

Start = Callable[[Settings], Awaitable[RunningServer]]


async def test_a_restarted_database_is_a_503_then_recovers_without_restarting_rowgate(
    private_postgres: PrivatePostgres, start_rowgate: Start, client: Client, redis_prefix: str, tmp_path: Path
) -> None:
    url = private_postgres.url
    conn = await asyncpg.connect(url)
    try:
        await world.build(conn)
    finally:
        await conn.close()
    settings = load_settings(
        DEFAULT_CONFIG,
        overrides={
            "database.url": url,
            "redis.url": REDIS_URL,
            "redis.key_prefix": redis_prefix,
            "data_dir": str(tmp_path / "data"),
            "server.port": 0,
            "logging.access_log": False,
            "policies": str(world.POLICIES),
            "rbac.policy_roles": ["editor"],
            "upstream.url": None,
        },
        environ={},
    )
    me = Client(client.http, await start_rowgate(settings))
    expected = len(world.visible_tasks(world.CALLERS["user_a"]))
    status, body = await me.call("GET", "/v1/data/tasks", "user_a")
    assert (status, len(body["data"])) == (200, expected)

    await private_postgres.stop()
    for path in ("/v1/data/tasks", f"/v1/data/tasks/{world.task_id(1)}"):
        status, body = await me.call("GET", path, "user_a")
        assert (status, body["code"]) == (503, "service_unavailable"), body
    status, body = await me.call("POST", "/v1/sql", "user_a", json={"sql": "SELECT id FROM tasks"})
    assert status == 503

    await private_postgres.start()
    for _ in range(100):
        status, body = await me.call("GET", "/v1/data/tasks", "user_a")
        if status == 200:
            break
        assert status == 503
        await asyncio.sleep(0.1)
    assert (status, len(body["data"])) == (200, expected)
    status, body = await me.call("POST", "/v1/data/tasks", "user_a", json={"title": "after the restart"})
    assert status == 201
