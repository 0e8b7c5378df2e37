"""The rowgate command: help, version, config checking, migrations, and the quick start."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests import clikit

ROOT = Path(__file__).resolve().parents[2]


def rowgate(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``rowgate *args`` run in this process (``tests.clikit``): what it prints and returns."""
    return clikit.run(*args, env=env, cwd=cwd or ROOT)


def test_version() -> None:
    result = rowgate("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("rowgate ")


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["serve"],
        ["demo"],
        ["migrate"],
        ["check-config"],
        ["doctor"],
        ["keys"],
        ["keys", "rotate"],
        ["keys", "list"],
        ["keys", "retire"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = rowgate(*command, "--help")
    assert result.returncode == 0
    assert "usage: rowgate" in result.stdout


def test_check_config_accepts_the_bundled_file() -> None:
    result = rowgate("check-config")
    assert result.returncode == 0, result.stderr
    assert "configuration is valid" in result.stdout


def test_bad_configuration_exits_2_naming_file_and_keys(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("tokens:\n  access_ttl: abc\nserver:\n  prot: 80\n")
    result = rowgate("check-config", "--config", str(path))
    assert result.returncode == 2
    assert f"{path}: tokens.access_ttl: expected a duration like 15m or 1h, got 'abc'" in result.stderr
    assert f"{path}: server.prot: unknown key" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) < 25


def test_config_from_the_environment_variable(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("mode: sometimes\n")
    result = rowgate("check-config", env={"ROWGATE_CONFIG": str(path)})
    assert result.returncode == 2
    assert f"{path}: mode: input should be 'dev' or 'production'" in result.stderr


@pytest.mark.integration
def test_migrate_applies_migrations(fresh_database: str) -> None:
    result = rowgate("migrate", env={"ROWGATE_DATABASE_URL": fresh_database})
    assert result.returncode == 0, result.stderr
    assert "applying migration 0001_foundation" in result.stdout
    again = rowgate("migrate", env={"ROWGATE_DATABASE_URL": fresh_database})
    assert "0 migration(s) applied" in again.stdout


def test_an_unreachable_database_is_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = rowgate("migrate", env={"ROWGATE_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/x"})
    assert result.returncode == 1
    assert "rowgate: The database is not reachable" in result.stderr
    assert "Traceback" not in result.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, seconds: float, process: subprocess.Popen[str] | None = None) -> bytes:
    """The body at ``url`` once it answers; gives up after ``seconds`` or when ``process`` ends."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (local test URL)
                return bytes(response.read())
        except OSError:
            if time.monotonic() > deadline or (process is not None and process.poll() is not None):
                raise
            time.sleep(0.3)


@pytest.mark.integration
@pytest.mark.slow
def test_the_quick_start_runs_with_an_embedded_database(tmp_path: Path) -> None:
    """The README's first command's program, on a machine with no database or Redis configured."""
    port, app_port = free_port(), free_port()
    env = dict(os.environ)
    for name in ("ROWGATE_DATABASE_URL", "ROWGATE_REDIS_URL", "ROWGATE_CONFIG", "ROWGATE_MASTER_KEY"):
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "rowgate.proxy", "demo", "--port", str(port), "--app-port", str(app_port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        try:
            healthz = wait_for(f"http://127.0.0.1:{port}/healthz", 180, process)
        except OSError:
            process.send_signal(signal.SIGTERM)
            stdout, stderr = process.communicate(timeout=60)
            pytest.fail(f"the demo did not come up (exit {process.returncode}):\n{stdout}\n{stderr}")
        assert healthz == b'{"status": "ok"}'
        assert b"hello from the demo app" in wait_for(f"http://127.0.0.1:{port}/public/hello", 10)
        # What the banner suggests: sign up, then call the app and the data API with the token.
        signup = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/auth/email/signup",
            data=json.dumps({"email": "ada@example.com", "password": "Correct-Horse-9"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(signup, timeout=30) as response:  # noqa: S310 (local test URL)
            token = json.load(response)["accessToken"]
        bearer = {"Authorization": f"Bearer {token}"}
        whoami = urllib.request.Request(f"http://127.0.0.1:{port}/api/whoami", headers=bearer)
        with urllib.request.urlopen(whoami, timeout=10) as response:  # noqa: S310
            assert json.load(response)["identity"]["X-Rowgate-Role"] == "admin"
        tasks = urllib.request.Request(f"http://127.0.0.1:{port}/v1/data/tasks", headers=bearer)
        with urllib.request.urlopen(tasks, timeout=10) as response:  # noqa: S310
            assert json.load(response) == {"data": []}
        # The demo created its tables: a guest reads the published welcome post.
        assert b"Welcome to rowgate" in wait_for(f"http://127.0.0.1:{port}/v1/data/posts", 10)
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert f"rowgate is running at http://127.0.0.1:{port}" in stdout
    assert "embedded PostgreSQL" in stdout
    assert f"curl http://127.0.0.1:{port}/v1/data/posts" in stdout
    assert (tmp_path / ".rowgate" / "postgres").is_dir()
    assert "Traceback" not in stderr


@pytest.mark.integration
def test_keys_rotate_publishes_the_next_key_and_now_replaces_it_at_once(
    migrated_database: str, tmp_path: Path
) -> None:
    env = {"ROWGATE_DATABASE_URL": migrated_database, "ROWGATE_DATA_DIR": str(tmp_path)}
    first = rowgate("keys", "rotate", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("published next signing key ")
    assert "it signs from " in first.stdout
    upcoming = first.stdout.split()[4]
    again = rowgate("keys", "rotate", env=env)
    assert "a next key is already published and not due yet" in again.stdout

    listing = rowgate("keys", "list", env=env).stdout
    states = {line.split()[0]: line.split()[2] for line in listing.splitlines()[1:]}
    assert states[upcoming] == "next"
    (active,) = [kid for kid, state in states.items() if state == "active"]

    emergency = rowgate("keys", "rotate", "--now", env=env)
    assert emergency.returncode == 0, emergency.stderr
    assert f"retired signing key {active}" in emergency.stdout
    assert f"retired signing key {upcoming}" in emergency.stdout
    assert "signs now; every other EdDSA key is retired" in emergency.stdout
    states = {
        line.split()[0]: line.split()[2] for line in rowgate("keys", "list", env=env).stdout.splitlines()[1:]
    }
    assert sorted(states.values()) == ["active", "retired", "retired"]

    refused = rowgate("keys", "retire", next(k for k, s in states.items() if s == "active"), env=env)
    assert refused.returncode == 1
    assert "rotate first" in refused.stderr
