"""``rowgate serve`` on a database without the tables its policies name: it says so at start,
naming them and what to do; and ``policies: null`` runs it without a data API."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from rowgate.proxy.data.demo import create_demo_tables
from tests.proxy.test_cli import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_POLICIES = ROOT / "config" / "policies.yaml"
VARIABLES = (
    "ROWGATE_DATABASE_URL",
    "ROWGATE_REDIS_URL",
    "ROWGATE_CONFIG",
    "ROWGATE_POLICIES",
    "ROWGATE_MODE",
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class Served:
    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process, self.url = process, f"http://127.0.0.1:{port}"
        self.stderr = ""


@contextmanager
def serving(database: str, cwd: Path, *args: str) -> Iterator[Served]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    env.update(ROWGATE_DATABASE_URL=database, ROWGATE_DATA_DIR=str(cwd / "data"))
    process = subprocess.Popen(
        [sys.executable, "-m", "rowgate.proxy", "serve", "--port", str(port), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    served = Served(process, port)
    try:
        wait_for(f"{served.url}/healthz", 90)
        yield served
    finally:
        process.send_signal(signal.SIGTERM)
        served.stderr = process.communicate(timeout=60)[1]


def get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (local test URL)
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_serve_names_the_tables_the_database_lacks_and_serves_them_once_created(
    fresh_database: str, tmp_path: Path
) -> None:
    with serving(fresh_database, tmp_path) as served:
        status, body = get(f"{served.url}/v1/data/posts")
        assert (status, body["code"]) == (404, "unknown_table")
        asyncio.run(create_demo_tables(fresh_database))
        served.process.send_signal(signal.SIGHUP)  # what the warning says to do
        wait_for(f"{served.url}/v1/data/posts", 30)
        status, body = get(f"{served.url}/v1/data/posts")

    assert status == 200
    assert "Welcome to rowgate" in json.dumps(body)
    warnings = [json.loads(line)["msg"] for line in served.stderr.splitlines() if "does not have" in line]
    assert warnings == [
        f"the policies in {SHIPPED_POLICIES} name tables the database does not have: public.projects, "
        "public.tasks, public.posts. The data API answers 404 for them until they exist: create them "
        "(`rowgate demo` creates the demo's tables, see proxy/data/demo_tables.sql), then reload "
        "(SIGHUP) or restart rowgate"
    ]


def test_policies_null_runs_without_the_data_api(fresh_database: str, tmp_path: Path) -> None:
    config = tmp_path / "rowgate.yaml"
    config.write_text("policies: null\n")

    with serving(fresh_database, tmp_path, "--config", str(config)) as served:
        status, body = get(f"{served.url}/v1/data/tasks")

    assert (status, body["code"]) == (404, "unknown_table")
    assert "policies: null: the data API serves no table" in served.stderr
    assert "does not have" not in served.stderr
    assert "Traceback" not in served.stderr
