"""The locust file runs headless for a few seconds against a live ``rowgate demo``, so that it
cannot rot: every endpoint group gets requests, none fails, and no user raises. Each user visits
every endpoint once as it starts; 10 s leave room for its argon2 sign-up and sign-in on a busy
machine."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import clikit
from tests.proxy.test_readme import LiveDemo

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LOCUSTFILE = Path(__file__).parents[1] / "loadtests" / "locustfile.py"

#: (method, name) of every request the mix makes; the first five while users start.
ENDPOINTS = {
    ("POST", "/v1/auth/email/signup"),
    ("POST", "/v1/auth/email/signin"),
    ("POST", "/v1/auth/refresh"),
    ("GET", "/v1/auth/me"),
    ("POST", "/v1/auth/api-keys"),
    ("GET", "/api/whoami"),
    ("GET", "/v1/data/tasks"),
    ("POST", "/v1/data/tasks"),
    ("GET", "/v1/data/tasks/{id}"),
    ("PATCH", "/v1/data/tasks/{id}"),
    ("POST", "/v1/sql"),
    ("GET", "/v1/data/tasks (key)"),
    ("POST", "/v1/data/tasks (key)"),
    ("POST", "/v1/sql (key)"),
    ("GET", "/public/hello"),
    ("GET", "/v1/data/posts"),
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveDemo]:
    live = LiveDemo(tmp_path_factory.mktemp("locust"))
    yield live
    live.stop()


def run_locust(base: str, folder: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless"]
    command += ["-u", "3", "-r", "3", "-t", "10s", "--host", base, "--csv", str(folder / "run")]
    return subprocess.run(
        command, cwd=folder, env=clikit.environment(), capture_output=True, text=True, timeout=120
    )


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def test_the_locust_mix_reaches_every_endpoint_without_a_failure(demo: LiveDemo, tmp_path: Path) -> None:
    done = run_locust(demo.base, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    stats = {(row["Type"], row["Name"]): row for row in rows(tmp_path / "run_stats.csv") if row["Type"]}
    assert set(stats) == ENDPOINTS
    assert all(int(row["Request Count"]) > 0 for row in stats.values())
    assert [row["Failure Count"] for row in stats.values() if row["Failure Count"] != "0"] == []
    assert rows(tmp_path / "run_failures.csv") == []
    assert rows(tmp_path / "run_exceptions.csv") == []
