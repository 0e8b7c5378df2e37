"""``rowgate serve`` as a real process (with its workers) for tests that use sockets and signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from rowgate.config.loader import DEFAULT_CONFIG, ENV_OVERRIDES
from tests.conftest import REDIS_URL
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
AGENT = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"}


class Served:
    """A running ``rowgate serve``: its process, URL and log file (JSON lines)."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process, self.port, self.log = process, port, log
        self.url = f"http://127.0.0.1:{port}"

    def logs(self) -> list[dict[str, Any]]:
        lines = self.log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def workers(self) -> list[int]:
        """The pids of the supervisor's children (its workers)."""
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return sorted(int(child) for child in children)

    def served_by(self, path: str, status: int | None = None) -> set[int]:
        """The workers (indexes) whose access log shows ``path`` answered (with ``status``)."""
        return {
            entry.get("worker", 0)
            for entry in self.logs()
            if entry.get("logger") == "rowgate.access"
            and entry.get("path") == path
            and (status is None or entry.get("status") == status)
        }


def write_config(folder: Path, database: str, **changes: Any) -> Path:
    """The bundled configuration, pointed at ``database``, the shared Redis under a key prefix of
    its own, a data folder in ``folder`` and a free port; ``changes`` are top-level sections."""
    config = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    config.update(mode="dev", data_dir=str(folder / "data"), policies=None)
    config["server"].update(port=free_port(), public_url=None, trusted_proxies=[])
    config["database"]["url"] = database
    config["redis"] = {"url": REDIS_URL, "key_prefix": f"rgtest:{uuid.uuid4().hex[:12]}:"}
    config["logging"] = {"format": "json", "level": "info", "access_log": True}
    for section, value in changes.items():
        if isinstance(value, dict):
            config.setdefault(section, {}).update(value)
        else:
            config[section] = value
    path = folder / "rowgate.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@contextmanager
def serving(
    config: Path, *args: str, workers: int = 2, environ: dict[str, str] | None = None
) -> Iterator[Served]:
    """``rowgate serve --config config --workers N *args`` until the block ends (then SIGTERM, or
    SIGKILL)."""
    port = int(yaml.safe_load(config.read_text())["server"]["port"])
    env = {k: v for k, v in os.environ.items() if k not in ENV_OVERRIDES and k != "ROWGATE_CONFIG"}
    env["TMPDIR"] = str(config.parent)  # the workers' metrics directory, even one a killed rowgate leaves
    env.update(environ or {})
    log = config.with_suffix(".log")
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rowgate.proxy",
                "serve",
                "--config",
                str(config),
                "--workers",
                str(workers),
                *args,
            ],
            cwd=config.parent,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    served = Served(process, port, log)
    try:
        wait_ready(served, workers)
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_ready(served: Served, workers: int, timeout: float = 90) -> None:
    """Until every worker has said that it serves, and ``/readyz`` answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            raise AssertionError(f"rowgate exited:\n{served.log.read_text()[-3000:]}")
        serving = {e.get("worker") for e in served.logs() if e["msg"].startswith("serving on port")}
        try:
            if len(serving) == workers and call(f"{served.url}/readyz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"rowgate did not become ready:\n{served.log.read_text()[-3000:]}")


def call(url: str, body: Any = None, token: str | None = None, timeout: float = 30) -> tuple[int, Any]:
    """One request on a new connection: ``(status, parsed JSON body or text)``."""
    headers = {**AGENT, "Connection": "close"}
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 (local test URL)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (local test URL)
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode()


def signed_in(base: str, email: str) -> str:
    """Sign up ``email`` and sign in: the access token."""
    password = "Correct-Horse-9-battery"
    status, body = call(f"{base}/v1/auth/email/signup", {"email": email, "password": password})
    assert status == 201, body
    status, body = call(f"{base}/v1/auth/email/signin", {"email": email, "password": password})
    assert status == 200, body
    return str(body["accessToken"])
