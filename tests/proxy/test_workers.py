"""``rowgate serve --workers N``: every worker serves, a killed worker is replaced without failing
requests beyond those in flight, SIGTERM drains, SIGHUP reloads every worker, a revocation
reaches every worker, and without Redis rowgate serves with one worker and says so."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rowgate.auth.passwords.hashing import default_threads
from rowgate.config.loader import DEFAULT_CONFIG, load_settings
from rowgate.proxy.cli import worker_settings
from rowgate.proxy.data.demo import create_demo_tables
from rowgate.proxy.workers import worker_count
from tests.proxy.workerkit import Served, call, serving, signed_in, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_workers_default_to_the_cpus_and_fall_back_to_one_without_redis(
    caplog: pytest.LogCaptureFixture,
) -> None:
    redis = {"redis.url": "redis://cache:6379/0"}
    with_redis = load_settings(DEFAULT_CONFIG, overrides=redis, environ={})
    assert worker_count(with_redis, cpus=3) == 3
    two = load_settings(DEFAULT_CONFIG, overrides={**redis, "server.workers": 2}, environ={})
    assert worker_count(two, cpus=8) == 2
    alone = load_settings(DEFAULT_CONFIG, overrides={"server.workers": 4}, environ={})
    with caplog.at_level(logging.WARNING, logger="rowgate.workers"):
        assert worker_count(alone) == 1
    assert "serving with 1 worker instead of 4: redis.url is not set" in caplog.text


def test_workers_share_the_hashing_threads_out_unless_they_are_configured() -> None:
    redis = {"redis.url": "redis://cache:6379/0"}
    default = load_settings(DEFAULT_CONFIG, overrides=redis, environ={})
    shared = worker_settings(default, 4)
    assert shared.auth.argon2.threads == default_threads(4)
    assert shared.auth.argon2.model_copy(update={"threads": None}) == default.auth.argon2
    assert shared.model_copy(update={"auth": default.auth}) == default
    chosen = load_settings(DEFAULT_CONFIG, overrides={**redis, "auth.argon2.threads": 3}, environ={})
    assert worker_settings(chosen, 4) == chosen


def until(condition: object, what: str, timeout: float = 60) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def spread(served: Served, path: str, workers: int = 2, token: str | None = None) -> list[int]:
    """Ask ``path`` on new connections until every worker has answered it; the statuses seen."""
    statuses = []
    for _ in range(400):
        statuses.append(call(f"{served.url}{path}", token=token)[0])
        if len(served.served_by(path)) == workers:
            return statuses
    raise AssertionError(f"not every worker answered {path}: {served.served_by(path)}")


def test_every_worker_serves_and_a_killed_one_is_replaced(fresh_database: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, fresh_database)
    with serving(config) as served:
        assert len(served.workers()) == 2
        assert set(spread(served, "/healthz")) == {200}
        failures: list[str] = []
        stop = threading.Event()

        def load() -> None:  # one request at a time: at most one in flight per thread
            while not stop.is_set():
                try:
                    status = call(f"{served.url}/readyz")[0]
                    if status != 200:
                        failures.append(str(status))
                except OSError as exc:
                    failures.append(repr(exc))

        threads = [threading.Thread(target=load) for _ in range(4)]
        for thread in threads:
            thread.start()
        victim = served.workers()[0]
        os.kill(victim, signal.SIGKILL)
        until(lambda: len(served.workers()) == 2 and victim not in served.workers(), "a new worker")
        time.sleep(1)
        stop.set()
        for thread in threads:
            thread.join()
        assert len(failures) <= len(threads), failures  # only requests the killed worker was serving
        restarted = [e for e in served.logs() if e["msg"].startswith("worker ") and "SIGKILL" in e["msg"]]
        assert len(restarted) == 1
        assert set(spread(served, "/healthz")) == {200}


class SlowApp(BaseHTTPRequestHandler):
    """An upstream whose answers take a second, and which tells when a request has arrived."""

    arrived = threading.Event()

    def do_GET(self) -> None:
        type(self).arrived.set()
        time.sleep(1.0)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "4")
        self.end_headers()
        self.wfile.write(b"slow")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def slow_app() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowApp)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_sigterm_lets_the_request_in_flight_finish_and_exits_0(
    fresh_database: str, tmp_path: Path, slow_app: str
) -> None:
    config = write_config(tmp_path, fresh_database, upstream={"url": slow_app})
    with serving(config) as served:
        answers: list[tuple[int, object]] = []
        request = threading.Thread(target=lambda: answers.append(call(f"{served.url}/public/slow")))
        SlowApp.arrived.clear()
        request.start()
        assert SlowApp.arrived.wait(30)
        served.process.send_signal(signal.SIGTERM)
        request.join()
        assert served.process.wait(timeout=40) == 0
    assert answers == [(200, "slow")]
    assert any(e["msg"] == "worker 1 stopped (exited with code 0)" for e in served.logs())


async def test_sighup_reloads_the_policies_in_every_worker(fresh_database: str, tmp_path: Path) -> None:
    await create_demo_tables(fresh_database)
    bundled = DEFAULT_CONFIG.with_name("policies.yaml").read_text(encoding="utf-8")
    policies = tmp_path / "policies.yaml"
    policies.write_text(bundled, encoding="utf-8")
    config = write_config(tmp_path, fresh_database, policies=str(policies), data={"reload": False})
    with serving(config) as served:
        assert set(spread(served, "/v1/data/posts")) == {200}  # the published post, to a guest
        policies.write_text(bundled[: bundled.index("\n  posts:")] + "\n", encoding="utf-8")
        served.process.send_signal(signal.SIGHUP)

        def reloaded() -> set[int]:
            return {e["worker"] for e in served.logs() if e["msg"].startswith("policy reloaded (SIGHUP)")}

        until(lambda: reloaded() == {0, 1}, "both workers reloaded")
        before = len(served.logs())
        for _ in range(400):
            assert call(f"{served.url}/v1/data/posts")[0] == 404  # no longer served, by any worker
            answered = {e.get("worker") for e in served.logs()[before:] if e.get("path") == "/v1/data/posts"}
            if answered == {0, 1}:
                break
        assert answered == {0, 1}


def test_a_sign_out_reaches_every_worker(fresh_database: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, fresh_database)
    with serving(config) as served:
        token = signed_in(served.url, "ada@example.com")
        assert set(spread(served, "/v1/auth/me", token=token)) == {200}
        assert call(f"{served.url}/v1/auth/signout", {}, token=token)[0] == 204
        before = len(served.logs())
        statuses = []
        for _ in range(400):
            statuses.append(call(f"{served.url}/v1/auth/me", token=token)[0])
            after = served.logs()[before:]
            if {e.get("worker") for e in after if e.get("path") == "/v1/auth/me"} == {0, 1}:
                break
        assert set(statuses) == {401}
        assert {e.get("worker") for e in served.logs()[before:] if e.get("path") == "/v1/auth/me"} == {0, 1}


def test_workers_stop_when_the_supervisor_is_killed(fresh_database: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, fresh_database)
    with serving(config) as served:
        workers = served.workers()
        served.process.kill()
        served.process.wait()

        def gone() -> bool:
            return not any(Path(f"/proc/{pid}").exists() and b"zombie" not in _status(pid) for pid in workers)

        until(gone, "the workers exited")


def _status(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/status").read_bytes()
    except OSError:
        return b"zombie"
