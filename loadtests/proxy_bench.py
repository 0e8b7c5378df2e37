"""Proxy throughput and CPU cost, side by side in one run.

Starts the demo upstream app and rowgate (each its own process), then drives load with ``wrk``
(Debian/Ubuntu: ``apt-get install wrk``) in rounds, alternating the scenarios so that a noisy
machine affects them alike:

* ``direct``: wrk → upstream ``/public/hello`` (no rowgate)
* ``proxied``: wrk → rowgate → upstream, ``/public/hello`` (a public route: no credential)
* ``jwt``: wrk → rowgate → upstream, ``/api/hello`` with a rowgate access token (verified, cached)
* ``api_key``: as ``jwt``, with ``X-API-Key`` (only when ``--api-key`` is given)

For every run it reads the rowgate process's CPU time from ``/proc`` before and after, so the
report gives requests per second, p99 latency and rowgate CPU microseconds per request, and the
ratios between scenarios measured in the same rounds.

    python loadtests/proxy_bench.py --rounds 3 --duration 10

PostgreSQL: the server of ``ROWGATE_DATABASE_URL`` (default: the local one); the benchmark creates
a database of its own there and drops it at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    scenario: str
    requests: int
    rps: float
    p99_ms: float
    cpu_us: float | None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def wrk(url: str, duration: int, connections: int, headers: dict[str, str]) -> tuple[int, float, float]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    p99 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    if "Non-2xx" in out:
        raise RuntimeError(f"non-2xx answers during the run:\n{out}")
    return requests, rps, p99


def write_config(folder: Path, port: int, upstream: str, database_url: str, access_log: bool) -> Path:
    path = folder / "rowgate.yaml"
    path.write_text(
        f"""
data_dir: {folder / "data"}
policies: {ROOT / "config" / "policies.yaml"}
server: {{host: 127.0.0.1, port: {port}}}
database: {{url: "{database_url}"}}
upstream: {{url: "{upstream}"}}
routes:
  default: deny
  rules:
    - {{path: /public/**, level: public}}
    - {{path: /api/**, level: authenticated}}
logging: {{level: warning, access_log: {str(access_log).lower()}}}
"""
    )
    return path


async def issue_token(config: Path, environ: dict[str, str]) -> str:
    """An access token signed with the running rowgate's key (read from its database)."""
    sys.path.insert(0, str(ROOT))
    from auth.crypto import SecretBox, load_master_key
    from auth.db import Database
    from auth.keystore import load_keyring
    from auth.tokens import TokenService
    from config import load_settings

    settings = load_settings(config, environ=environ)
    db = await Database.connect(settings.database.url or "", settings.database)
    try:
        ring = await load_keyring(db, SecretBox(load_master_key(settings, environ)), settings.tokens)
    finally:
        await db.close()
    tokens = TokenService(settings, ring)
    return tokens.issue_access(
        sub=str(uuid.uuid4()), sid=str(uuid.uuid4()), amr=["pwd"], org_id=str(uuid.uuid4()), role="member"
    ).token


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-access-log", action="store_true", help="turn rowgate's access log off")
    parser.add_argument("--api-key", help="also measure X-API-Key authentication with this key")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")

    server_url = os.environ.get("ROWGATE_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    with scratch_database(server_url) as database_url:
        runs = run_benchmark(args, database_url)
    report(runs, args)


@contextlib.contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A new database on the server of ``server_url`` for this run; dropped afterwards."""
    import asyncpg

    name = f"rowgate_bench_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(server_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def run_benchmark(args: argparse.Namespace, database_url: str) -> list[Run]:
    environ = {**os.environ, "ROWGATE_MASTER_KEY": secrets.token_urlsafe(32), "PYTHONPATH": str(ROOT)}
    environ.pop("ROWGATE_CONFIG", None)
    app_port, port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(
            Path(tmp), port, f"http://127.0.0.1:{app_port}", database_url, not args.no_access_log
        )
        log = (Path(tmp) / "rowgate.log").open("w")
        upstream = subprocess.Popen(
            [sys.executable, "-m", "proxy.demo", "--port", str(app_port)],
            stdout=subprocess.DEVNULL,
            env=environ,
        )
        rowgate = subprocess.Popen(
            [sys.executable, "-m", "proxy", "serve", "--config", str(config)],
            stdout=log,
            stderr=log,
            env=environ,
        )
        try:
            wait_ready(f"http://127.0.0.1:{app_port}/public/hello")
            try:
                wait_ready(f"http://127.0.0.1:{port}/readyz")
            except OSError:
                sys.exit("rowgate did not start:\n" + (Path(tmp) / "rowgate.log").read_text())
            token = asyncio.run(issue_token(config, environ))
            return measure(args, app_port, port, rowgate.pid, token)
        finally:
            for process in (rowgate, upstream):
                process.terminate()
                process.wait(timeout=30)
            log.close()


def measure(args: argparse.Namespace, app_port: int, port: int, pid: int, token: str) -> list[Run]:
    scenarios: dict[str, tuple[str, dict[str, str], bool]] = {
        "direct": (f"http://127.0.0.1:{app_port}/public/hello", {}, False),
        "proxied": (f"http://127.0.0.1:{port}/public/hello", {}, True),
        "jwt": (f"http://127.0.0.1:{port}/api/hello", {"Authorization": f"Bearer {token}"}, True),
    }
    if args.api_key:
        scenarios["api_key"] = (f"http://127.0.0.1:{port}/api/hello", {"X-API-Key": args.api_key}, True)
    for url, headers, _ in scenarios.values():  # warm up connections, caches and the JIT-less loop
        wrk(url, 2, args.connections, headers)
    runs = []
    for round_number in range(args.rounds):
        for name, (url, headers, through_rowgate) in scenarios.items():
            before = cpu_seconds(pid)
            requests, rps, p99 = wrk(url, args.duration, args.connections, headers)
            cpu = (cpu_seconds(pid) - before) / requests * 1e6 if through_rowgate else None
            runs.append(Run(name, requests, rps, p99, cpu))
            shown = f"{cpu:.0f} us/req" if cpu is not None else "-"
            print(
                f"round {round_number + 1} {name:8} {rps:9.0f} req/s  p99 {p99:6.2f} ms  rowgate {shown}",
                flush=True,
            )
    return runs


def report(runs: list[Run], args: argparse.Namespace) -> None:
    names = list(dict.fromkeys(run.scenario for run in runs))
    rps = {name: [r.rps for r in runs if r.scenario == name] for name in names}
    print(f"\n{args.rounds} rounds x {args.duration}s, {args.connections} connections, medians:\n")
    print("| scenario | req/s | p99 ms | rowgate CPU µs/req |")
    print("|---|---|---|---|")
    for name in names:
        mine = [r for r in runs if r.scenario == name]
        cpus = [r.cpu_us for r in mine if r.cpu_us is not None]
        cpu = f"{statistics.median(cpus):.0f}" if cpus else "-"
        print(
            f"| {name} | {statistics.median(rps[name]):.0f} | "
            f"{statistics.median(r.p99_ms for r in mine):.2f} | {cpu} |"
        )
    print("\nRatios (per round, then the median):\n")
    pairs = [("jwt", "proxied"), ("proxied", "direct")] + ([("api_key", "jwt")] if "api_key" in names else [])
    for a, b in pairs:
        ratios = [x / y for x, y in zip(rps[a], rps[b], strict=True)]
        rounds = ", ".join(f"{r:.2f}" for r in ratios)
        print(f"- throughput {a} / {b}: {statistics.median(ratios):.2f} (rounds: {rounds})")


if __name__ == "__main__":
    main()
