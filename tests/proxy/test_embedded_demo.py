"""The quick start as a user runs it, for longer than a first look: ``rowgate demo`` with its embedded
PostgreSQL (run by whoever runs the tests; the test machines run as root) survives a checkpoint,
stops cleanly on Ctrl-C, starts again in the same folder, and says so when its database is gone;
a busy port is one sentence."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests import clikit

CREDENTIALS = {"email": "ada@example.com", "password": "Correct-Horse-9"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def call(url: str, body: dict[str, Any] | None = None, token: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 (local test URL)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (local test URL)
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def wait_until_up(base: str, process: subprocess.Popen[str], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if call(f"{base}/healthz")[0] == 200:
                return
        except OSError:
            pass
        if process.poll() is not None:
            pytest.fail(f"rowgate demo exited with {process.returncode}: {process.communicate()[1]}")
        if time.monotonic() > deadline:
            pytest.fail("rowgate demo did not answer /healthz in time")
        time.sleep(0.3)


class Demo:
    """One ``rowgate demo`` process in ``folder``, on private ports."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        command = ["demo", "--port", str(self.port), "--app-port", str(free_port())]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rowgate.proxy", *command],
            cwd=folder,
            env=clikit.environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group, as in a terminal
        )
        wait_until_up(self.base, self.process)

    @property
    def pgdata(self) -> Path:
        return self.folder / ".rowgate" / "postgres"

    def postmaster(self) -> list[str]:
        """The embedded server's postmaster.pid: pid, folder, start, port, socket folder, ..."""
        return (self.pgdata / "postmaster.pid").read_text().splitlines()

    def interrupt(self) -> tuple[str, str]:
        """Ctrl-C, as a terminal sends it (to the whole process group); waits for the exit."""
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.communicate(timeout=90)

    def sign_in(self) -> str:
        status, body = call(f"{self.base}/v1/auth/email/signin", CREDENTIALS)
        assert status == 200, body
        return str(body["accessToken"])


@pytest.fixture
def demos() -> Iterator[list[Demo]]:
    """Every demo a test starts; whatever is still running at the end is stopped."""
    started: list[Demo] = []
    yield started
    for demo in started:
        if demo.process.poll() is None:
            demo.interrupt()
    for demo in started:  # a failed test may leave the database running: stop it (fast shutdown)
        with contextlib.suppress(OSError, IndexError, ValueError):
            pid = int(demo.postmaster()[0])
            if str(demo.pgdata).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGINT)
                exits(pid)


async def checkpoint(postmaster: list[str]) -> None:
    port, socket_dir = int(postmaster[3]), postmaster[4]
    conn = await asyncpg.connect(host=socket_dir, port=port, user="postgres", database="postgres")
    try:
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


def exits(pid: int, seconds: float = 30) -> bool:
    """Whether process ``pid`` ends (or is only left for its parent to reap) within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.1)
    return False


@pytest.mark.integration
@pytest.mark.slow
def test_the_demo_survives_a_checkpoint_ctrl_c_and_a_restart(tmp_path: Path, demos: list[Demo]) -> None:
    first = Demo(tmp_path)
    demos.append(first)
    status, body = call(f"{first.base}/v1/auth/email/signup", CREDENTIALS)
    assert status == 201, body
    # Another rowgate command in the same folder shares the database and leaves it running.
    migrate = subprocess.run(
        [sys.executable, "-m", "rowgate.proxy", "migrate"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=clikit.environment(),
    )
    assert migrate.returncode == 0, migrate.stderr
    assert "0 migration(s) applied" in migrate.stdout
    postmaster = first.postmaster()
    # A checkpoint writes global/pg_control: the database's own user must still reach its folder.
    asyncio.run(checkpoint(postmaster))
    token = first.sign_in()
    assert call(f"{first.base}/v1/data/tasks", token=token) == (200, {"data": []})
    assert call(f"{first.base}/readyz")[0] == 200

    stdout, stderr = first.interrupt()
    assert first.process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert stderr.count("starting an embedded PostgreSQL") == 1  # once per process
    assert "rowgate is running at" in stdout
    assert not (first.pgdata / "postmaster.pid").exists()
    assert exits(int(postmaster[0])), "the embedded PostgreSQL is still running"
    # As root the database's own user passes through the data folder; nobody else may list it.
    assert (tmp_path / ".rowgate").stat().st_mode & 0o777 == (0o711 if os.geteuid() == 0 else 0o700)

    second = Demo(tmp_path)
    demos.append(second)
    token = second.sign_in()  # the account outlived the restart
    status, task = call(f"{second.base}/v1/data/tasks", {"title": "after the restart"}, token)
    assert status == 201, task
    assert call(f"{second.base}/readyz")[0] == 200


@pytest.mark.integration
@pytest.mark.slow
def test_readyz_says_when_the_embedded_database_is_gone(tmp_path: Path, demos: list[Demo]) -> None:
    demo = Demo(tmp_path)
    demos.append(demo)
    assert call(f"{demo.base}/readyz")[0] == 200
    postmaster = int(demo.postmaster()[0])
    os.kill(postmaster, signal.SIGKILL)
    assert exits(postmaster)
    # A backend may answer one last query before it notices that its postmaster is gone.
    deadline = time.monotonic() + 30
    while (answer := call(f"{demo.base}/readyz"))[0] == 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    status, problem = answer
    assert (status, problem["code"]) == (503, "not_ready")
    assert problem["detail"] == "Not ready: database not reachable."
    assert call(f"{demo.base}/healthz") == (200, {"status": "ok"})  # liveness: the process answers
    _, stderr = demo.interrupt()
    assert demo.process.returncode == 0, stderr[-3000:]


@pytest.mark.integration
@pytest.mark.slow
def test_a_killed_demo_does_not_keep_the_next_ones_database_running(
    tmp_path: Path, demos: list[Demo]
) -> None:
    killed = Demo(tmp_path)
    demos.append(killed)
    killed.process.kill()  # no chance to let go of the database, which keeps running
    killed.process.communicate(timeout=30)
    postmaster = int(killed.postmaster()[0])
    assert not exits(postmaster, seconds=1)

    demo = Demo(tmp_path)
    demos.append(demo)
    assert int(demo.postmaster()[0]) == postmaster  # it joined the running database
    _, stderr = demo.interrupt()
    assert demo.process.returncode == 0, stderr
    assert exits(postmaster)
    assert not (demo.pgdata / "postmaster.pid").exists()


@pytest.mark.parametrize(
    ("command", "flag"),
    [
        (["demo", "--port", "{busy}", "--app-port", "{free}"], "--port"),
        (["demo", "--port", "{free}", "--app-port", "{busy}"], "--app-port"),
        (["serve", "--port", "{busy}"], "--port"),
    ],
)
def test_a_busy_port_is_one_sentence_naming_it(command: list[str], flag: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        args = [part.format(busy=busy, free=free_port()) for part in command]
        result = subprocess.run(
            [sys.executable, "-m", "rowgate.proxy", *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            env=clikit.environment(),
        )
    assert result.returncode == 1
    assert result.stderr == (
        f"rowgate: port {busy} on 127.0.0.1 is already in use (another program, or another rowgate, "
        f"is listening there): pass {flag} N to use another.\n"
    )
    assert not (tmp_path / ".rowgate" / "postgres").exists()  # nothing was started
