"""The docker-compose topology without containers: three rowgate processes behind a real nginx
running the shipped ``nginx.conf``.  A token from one replica works on all, a sign-out reaches
all, and a killed replica fails no request beyond those it was serving."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.proxy.workerkit import ROOT, Served, call, serving, signed_in, wait_ready, write_config
from tests.servers import free_port

pytestmark = pytest.mark.integration

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def nginx_conf(folder: Path, port: int, replicas: list[Served]) -> Path:
    """The shipped ``nginx.conf`` with the replicas' addresses and a local port, in a main file."""
    site = (ROOT / "nginx.conf").read_text(encoding="utf-8")
    servers = "".join(f"server 127.0.0.1:{r.port} max_fails=1 fail_timeout=5s;\n    " for r in replicas)
    shipped_server, shipped_listen = "server rowgate:8080 max_fails=1 fail_timeout=5s;\n", "listen 8080;"
    assert site.count(shipped_server) == 1
    assert site.count(shipped_listen) == 1
    site = site.replace(shipped_server, servers).replace(shipped_listen, f"listen 127.0.0.1:{port};")
    user = "user root;\n" if os.geteuid() == 0 else ""
    main = (
        f"{user}worker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
        f"events {{}}\nhttp {{\n  access_log off;\n{site}\n}}\n"
    )
    path = folder / "nginx.main.conf"
    path.write_text(main, encoding="utf-8")
    return path


@pytest.fixture
def replicas(fresh_database: str, tmp_path: Path) -> Iterator[tuple[str, list[Served]]]:
    if not Path(NGINX).exists():
        pytest.fail("nginx is not installed (apt-get install nginx-light; .ci/run does)")
    prefix = f"rgtest:{uuid.uuid4().hex[:12]}:"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # What the replicas share: the master key and the public URL (the tokens' issuer).
    shared = {"ROWGATE_MASTER_KEY": secrets.token_urlsafe(32), "ROWGATE_PUBLIC_URL": base}
    with ExitStack() as stack:
        started = []
        for name in ("a", "b", "c"):
            folder = tmp_path / name
            folder.mkdir()
            config = write_config(
                folder,
                fresh_database,
                server={"trusted_proxies": ["127.0.0.1"]},
                redis={"key_prefix": prefix},
            )
            started.append(stack.enter_context(serving(config, workers=1, environ=shared)))
        conf = nginx_conf(tmp_path, port, started)
        lb = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(conf), "-g", "daemon off;"])
        stack.callback(lambda: (lb.terminate(), lb.wait(timeout=10)))
        wait_ready(Served(lb, port, started[0].log), workers=1)  # readiness through nginx
        yield base, started


def answered(replicas: list[Served], path: str, status: int) -> list[bool]:
    return [bool(r.served_by(path, status)) for r in replicas]


def test_a_token_from_one_replica_works_on_all_and_a_sign_out_reaches_all(
    replicas: tuple[str, list[Served]],
) -> None:
    base, served = replicas
    token = signed_in(base, "ada@example.com")
    statuses = [call(f"{base}/v1/auth/me", token=token)[0] for _ in range(6)]
    assert statuses == [200] * 6
    assert answered(served, "/v1/auth/me", 200) == [True, True, True]  # round robin
    assert call(f"{base}/v1/auth/signout", {}, token=token)[0] == 204
    statuses = [call(f"{base}/v1/auth/me", token=token)[0] for _ in range(6)]
    assert statuses == [401] * 6
    assert answered(served, "/v1/auth/me", 401) == [True, True, True]


def test_a_killed_replica_fails_no_request_beyond_those_in_flight(
    replicas: tuple[str, list[Served]],
) -> None:
    base, served = replicas
    token = signed_in(base, "grace@example.com")
    failures: list[str] = []
    answers: list[int] = []
    stop = threading.Event()

    def load() -> None:  # one request at a time: at most one in flight per thread
        while not stop.is_set():
            try:
                status = call(f"{base}/v1/auth/me", token=token)[0]
            except OSError as exc:
                failures.append(repr(exc))
                continue
            answers.append(status)
            if status != 200:
                failures.append(str(status))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    until = len(answers) + 50
    while len(answers) < until:
        time.sleep(0.01)
    served[1].process.send_signal(signal.SIGKILL)
    served[1].process.wait()
    until = len(answers) + 200
    while len(answers) < until:
        time.sleep(0.01)
    stop.set()
    for thread in threads:
        thread.join()
    assert len(failures) <= len(threads), failures
    assert answers.count(200) >= 250
