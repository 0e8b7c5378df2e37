"""Bounded answers: the database refuses, before sending it, an answer larger than
``data.max_response_bytes`` (a 422 ``response_too_large``, the write rolled back), for ``/v1/sql``
and REST alike; answers within the limit keep their rows and their order; and rowgate's memory
stays bounded while a statement asks for far more (measured on a rowgate process of its own)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from rowgate.config import DEFAULT_CONFIG, Settings, load_settings
from rowgate.errors import ConfigError
from tests.conftest import REDIS_URL
from tests.data import world
from tests.data.conftest import Client, Start

pytestmark = pytest.mark.integration

LIMIT = 64 * 1024


@pytest.fixture
async def bounded(data_settings: Callable[..., Settings], start_rowgate: Start, client: Client) -> Client:
    server = await start_rowgate(data_settings(**{"data.max_response_bytes": "64KiB"}))
    return Client(client.http, server)


async def test_a_huge_value_is_refused_by_the_database(bounded: Client) -> None:
    status, body = await bounded.call(
        "POST", "/v1/sql", "user_a", json={"sql": "SELECT repeat('x', 100000) AS big"}
    )
    assert (status, body["code"]) == (422, "response_too_large"), body
    assert f"{LIMIT} bytes (data.max_response_bytes)" in body["detail"]


async def test_many_rows_adding_up_past_the_limit_are_refused(bounded: Client) -> None:
    sql = "SELECT n, repeat('y', 1000) AS filler FROM generate_series(1, 100) AS n"
    status, body = await bounded.call("POST", "/v1/sql", "user_a", json={"sql": sql})
    assert (status, body["code"]) == (422, "response_too_large"), body

    status, body = await bounded.call(
        "POST", "/v1/sql", "user_a", json={"sql": sql.replace("100)", "40)") + " ORDER BY n DESC"}
    )
    assert status == 200, body
    assert [row["n"] for row in body["rows"]] == list(range(40, 0, -1))


async def test_rest_reads_are_bounded_too(bounded: Client, world_database: str) -> None:
    status, body = await bounded.call("GET", "/v1/data/tasks", "user_a", params={"order": "title.desc"})
    assert status == 200, body
    titles = [row["title"] for row in body["data"]]
    assert titles == sorted((t["title"] for t in world.visible_tasks(world.CALLERS["user_a"])), reverse=True)

    conn = await asyncpg.connect(world_database)
    try:
        await conn.execute("UPDATE tasks SET title = repeat('z', 70000) WHERE id = $1", world.task_id(1))
    finally:
        await conn.close()
    status, body = await bounded.call("GET", "/v1/data/tasks", "user_a")
    assert (status, body["code"]) == (422, "response_too_large"), body
    status, body = await bounded.call("GET", f"/v1/data/tasks/{world.task_id(1)}", "user_a")
    assert (status, body["code"]) == (422, "response_too_large"), body
    status, body = await bounded.call("GET", "/v1/data/tasks", "user_a", params={"select": "id,priority"})
    assert status == 200, body


async def test_a_write_whose_returned_rows_are_too_large_is_rolled_back(
    bounded: Client, world_database: str
) -> None:
    status, body = await bounded.call("POST", "/v1/data/tasks", "user_a", json={"title": "t" * 70000})
    assert (status, body["code"]) == (422, "response_too_large"), body
    sql = "UPDATE tasks SET priority = 4 WHERE id = $1 RETURNING repeat(title, 10000) AS echo"
    status, body = await bounded.call(
        "POST", "/v1/sql", "admin_a", json={"sql": sql, "params": [world.task_id(1)]}
    )
    assert (status, body["code"]) == (422, "response_too_large"), body

    conn = await asyncpg.connect(world_database)
    try:
        assert await conn.fetchval("SELECT count(*) FROM tasks WHERE length(title) = 70000") == 0
        assert await conn.fetchval("SELECT priority FROM tasks WHERE id = $1", world.task_id(1)) == 1
    finally:
        await conn.close()
    status, body = await bounded.call("POST", "/v1/data/tasks", "user_a", json={"title": "small"})
    assert status == 201, body


@pytest.mark.parametrize(
    ("value", "message"),
    [("abc", "expected a size"), ("100", "at least 1KiB"), ("-1MiB", "expected a size")],
)
def test_bad_limits_are_named(value: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(DEFAULT_CONFIG, overrides={"data.max_response_bytes": value}, environ={})
    problems = "\n".join(raised.value.problems)
    assert "data.max_response_bytes" in problems
    assert message in problems


# rowgate's own memory, in a process of its own.


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _peak_rss(pid: int) -> int:
    """The process's peak resident set (``VmHWM``), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc")


@pytest.fixture
def rowgate_process(world_database: str, redis_prefix: str, tmp_path: Path) -> Iterator[tuple[str, int]]:
    """``rowgate serve`` on the world's database in a process of its own; its URL and pid."""
    port = _free_port()
    config = tmp_path / "rowgate.yaml"
    config.write_text(
        f"""
data_dir: {tmp_path / "data"}
policies: {world.POLICIES}
server: {{host: 127.0.0.1, port: {port}, workers: 1}}  # one process: its memory is measured
database: {{url: "{world_database}"}}
redis: {{url: "{REDIS_URL}", key_prefix: "{redis_prefix}"}}
upstream: {{url: null}}
rbac: {{policy_roles: [editor]}}
data: {{statement_timeout: 2m, reload: false}}
logging: {{level: warning, access_log: false}}
"""
    )
    env = dict(os.environ)
    for name in ("ROWGATE_DATABASE_URL", "ROWGATE_REDIS_URL", "ROWGATE_CONFIG", "ROWGATE_MASTER_KEY"):
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "rowgate.proxy", "serve", "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2):  # noqa: S310 (local test URL)
                    break
            except OSError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "rowgate did not start"
                time.sleep(0.3)
        yield url, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert "Traceback" not in stderr


@pytest.mark.slow
async def test_a_300_mb_answer_leaves_rowgates_memory_where_it_was(
    rowgate_process: tuple[str, int], http: aiohttp.ClientSession
) -> None:
    url, pid = rowgate_process

    async def post(path: str, body: object, token: str | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with http.post(url + path, json=body, headers=headers) as response:
            return response.status, await response.json()

    status, body = await post(
        "/v1/auth/email/signup", {"email": "big@example.com", "password": "Correct-Horse-9"}
    )
    assert status == 201, body
    token = body["accessToken"]
    for _ in range(3):  # warm up: pools, caches, the rewriter
        status, body = await post("/v1/sql", {"sql": "SELECT repeat('x', 1000) AS v"}, token)
        assert status == 200, body
    before = _peak_rss(pid)

    status, body = await post("/v1/sql", {"sql": "SELECT repeat('x', 300000000) AS big"}, token)

    assert (status, body["code"]) == (422, "response_too_large"), body
    growth = _peak_rss(pid) - before
    assert growth < 100 * 1024 * 1024, f"rowgate's peak memory grew by {growth / 2**20:.0f} MiB"
