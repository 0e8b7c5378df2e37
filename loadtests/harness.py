"""What the load tests share: a scratch database, rowgate and its neighbours as processes, a token
from the running rowgate's own key, and wrk runs in rounds of short interleaved slices
(``measure``) with the CPU time each server process spent per request (read from ``/proc``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import resource
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
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
    #: CPU µs per request of wrk and of the processes beside rowgate (``measure(beside=...)``).
    beside_us: float | None = None
    #: Requests per second of each of the round's slices of this scenario, in the order they ran.
    slice_rps: tuple[float, ...] = ()


@dataclass
class Pids:
    rowgate: int
    beside: list[int]


#: A scenario: the URL wrk hits, its headers, and the pid whose CPU time is charged (or None).
Scenario = tuple[str, dict[str, str], int | None]


def require_wrk() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")


def server_url() -> str:
    """The PostgreSQL server to benchmark on (``ROWGATE_DATABASE_URL``, else the local one)."""
    return os.environ.get("ROWGATE_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def bench_environ() -> dict[str, str]:
    """The environment of the processes: a fresh master key, the repository on the path."""
    environ = {**os.environ, "ROWGATE_MASTER_KEY": secrets.token_urlsafe(32)}
    environ.pop("ROWGATE_CONFIG", None)
    return environ


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
    """The CPU time (user and system) of ``pid`` and of the processes it forked (``rowgate serve
    --workers N``: the supervisor and its workers), those still running."""
    total = 0
    for each in [pid, *descendants(pid)]:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # it has just exited
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (read from ``/proc``)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], list(children.get(pid, ()))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, ()))
    return found


@contextlib.contextmanager
def scratch_database(server: str) -> Iterator[str]:
    """A new database on ``server`` for this run; dropped afterwards."""
    import asyncpg

    name = f"rowgate_bench_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(server)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def running(
    config: Path,
    port: int,
    environ: dict[str, str],
    beside: Sequence[tuple[Sequence[str], str]] = (),
    *,
    wrapper: Sequence[str] = (),
    seconds: float = 60,
) -> Iterator[Pids]:
    """Processes ``beside`` (command, URL answering once it is ready), then ``rowgate serve`` with
    ``config`` (listening on ``port``; run by ``wrapper``, such as valgrind, when given, ready
    within ``seconds``); yields their pids once all are ready, and stops them all."""
    log_path = config.with_name("rowgate.log")
    processes = []
    with log_path.open("w") as log:
        try:
            for command, _ in beside:
                processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, env=environ))
            rowgate = subprocess.Popen(
                [*wrapper, sys.executable, "-m", "rowgate.proxy", "serve", "--config", str(config)],
                stdout=log,
                stderr=log,
                env=environ,
            )
            processes.append(rowgate)
            for _, ready in beside:
                wait_ready(ready)
            try:
                wait_ready(f"http://127.0.0.1:{port}/readyz", seconds)
            except OSError:
                sys.exit("rowgate did not start:\n" + log_path.read_text())
            yield Pids(rowgate.pid, [p.pid for p in processes[:-1]])
        finally:
            for process in reversed(processes):
                process.terminate()
                process.wait(timeout=seconds)


#: What the cheap upstream answers on every path (the demo app's ``/public/hello``, byte for byte).
HELLO = '{"message": "hello from the demo app"}'


def upstream_process(kind: str, folder: Path, port: int) -> tuple[list[str], str]:
    """The upstream to put behind rowgate, as ``running(beside=...)`` takes it: ``nginx`` (one
    worker answering a fixed body from its configuration: the cheapest HTTP server at hand, so
    that the upstream takes as little of a small machine's CPU from rowgate as possible; Debian:
    ``apt-get install nginx-light``), or ``demo`` (rowgate's demo app: aiohttp in Python, about
    as costly per request as rowgate itself)."""
    if kind == "demo":
        return [sys.executable, "-m", "rowgate.proxy.demo", "--port", str(port)], (
            f"http://127.0.0.1:{port}/public/hello"
        )
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        sys.exit("nginx is not installed (apt-get install nginx-light), or use --upstream demo")
    folder.mkdir(parents=True, exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "".join(f"  {name}_temp_path {folder}/{name};\n" for name in ("client_body", "proxy", "fastcgi"))
    conf = folder / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\ndaemon off;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
        f"events {{ worker_connections 4096; }}\n"
        f"http {{\n  access_log off;\n{temp}  keepalive_requests 100000000;\n"
        f"  server {{\n    listen 127.0.0.1:{port};\n    default_type application/json;\n"
        f"    location / {{ return 200 '{HELLO}'; }}\n  }}\n}}\n",
        encoding="utf-8",
    )
    return [nginx, "-e", str(folder / "error.log"), "-p", str(folder), "-c", str(conf)], (
        f"http://127.0.0.1:{port}/public/hello"
    )


async def issue_token(config: Path, environ: dict[str, str], *, sub: str, org_id: str, role: str) -> str:
    """An access token signed with the running rowgate's key (read from its database)."""
    from rowgate.auth.crypto import SecretBox, load_master_key
    from rowgate.auth.db import Database
    from rowgate.auth.tokens.keystore import load_keyring
    from rowgate.auth.tokens.service import TokenService
    from rowgate.config import load_settings

    settings = load_settings(config, environ=environ)
    db = await Database.connect(settings.database.url or "", settings.database)
    try:
        ring = await load_keyring(db, SecretBox(load_master_key(settings, environ)), settings.tokens)
    finally:
        await db.close()
    issued = TokenService(settings, ring).issue_access(
        sub=sub, sid=str(uuid.uuid4()), amr=["pwd"], org_id=org_id, role=role
    )
    return issued.token


def wrk(url: str, duration: int, connections: int, headers: dict[str, str]) -> tuple[int, float, float]:
    """Requests, requests per second and p99 latency (ms) of one wrk run."""
    run = wrk_run(url, duration, connections, headers)
    return run.requests, run.requests / run.seconds, run.p99_ms


@dataclass
class WrkRun:
    requests: int
    #: How long wrk measured, as it reports it (a little over the duration asked for).
    seconds: float
    p99_ms: float


def wrk_run(url: str, duration: int, connections: int, headers: dict[str, str]) -> WrkRun:
    """One wrk run: its requests, the seconds they took and the p99 latency (ms)."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    found = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", out)
    if found is None:
        raise RuntimeError(f"wrk printed no request count:\n{out}")
    unit = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[found.group(3)]
    value, p99_unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    p99 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99_unit]
    if "Non-2xx" in out:
        raise RuntimeError(f"non-2xx answers during the run:\n{out}")
    return WrkRun(int(found.group(1)), float(found.group(2)) * unit, p99)


def slice_order(names: Sequence[str], slices: int, rng: random.Random) -> list[str]:
    """The order of one round's slices: ``slices`` cycles, each running every scenario once, the
    first in a random order and each next one in the reverse of the one before (A B, B A, A B,
    ...): every scenario's slices then sit at the same mean position in the round (exactly for an
    even number of cycles, within half a slot for an odd one), so a drift of the machine's speed
    through the round falls on all alike, and no scenario always runs first or right after
    another."""
    order = list(names)
    rng.shuffle(order)
    sequence = []
    for _ in range(slices):
        sequence += order
        order = order[::-1]
    return sequence


def measure(
    scenarios: dict[str, Scenario],
    rounds: int,
    duration: int,
    connections: int,
    beside: Sequence[int] = (),
    *,
    slice_seconds: int = 1,
    seed: int | None = None,
) -> list[Run]:
    """``rounds`` rounds in which every scenario runs ``duration`` seconds, in interleaved slices
    of ``slice_seconds`` (``slice_order``), after a warm-up of every scenario (in random order,
    not counted).  Each round's figures per scenario are sums over its slices (requests over
    seconds; CPU over requests), so two scenarios compared within a round met the same machine,
    slice by slice.  With ``beside`` (the upstream's pids, a private Redis's), their CPU per
    request and wrk's own is reported too: what the machine spends on each request besides
    rowgate.  ``seed`` makes the random orders repeatable."""
    rng = random.Random(seed)
    names = list(scenarios)
    slices = max(1, duration // slice_seconds)
    warm_up = list(names)
    rng.shuffle(warm_up)
    for name in warm_up:
        url, headers, _ = scenarios[name]
        wrk_run(url, 2, connections, headers)
    print(
        f"{len(names)} scenarios, {slices} slices of {slice_seconds}s each per round, interleaved",
        flush=True,
    )
    runs = []
    for round_number in range(rounds):
        parts: dict[str, list[_Slice]] = {name: [] for name in names}
        sequence = slice_order(names, slices, rng)
        for name in sequence:
            url, headers, pid = scenarios[name]
            before = cpu_seconds(pid) if pid else 0.0
            others = _wrk_seconds() + sum(map(cpu_seconds, beside))
            ran = wrk_run(url, slice_seconds, connections, headers)
            cpu = cpu_seconds(pid) - before if pid else None
            spent = _wrk_seconds() + sum(map(cpu_seconds, beside)) - others
            parts[name].append(_Slice(ran, cpu, spent))
        first = " ".join(sequence[: len(names)])
        for name in names:
            run = _summed(name, parts[name], bool(beside))
            runs.append(run)
            shown = f"{run.cpu_us:.0f} us/req" if run.cpu_us is not None else "-"
            also = f"  wrk+upstream {run.beside_us:.0f} us/req" if run.beside_us is not None else ""
            low, high = min(run.slice_rps), max(run.slice_rps)
            print(
                f"round {round_number + 1} {name:8} {run.rps:9.0f} req/s (slices {low:.0f} to {high:.0f})  "
                f"p99 {run.p99_ms:6.2f} ms  cpu {shown}{also}",
                flush=True,
            )
        print(f"round {round_number + 1}: first cycle {first}", flush=True)
    return runs


@dataclass
class _Slice:
    run: WrkRun
    cpu_seconds: float | None
    beside_seconds: float


def _summed(name: str, parts: Sequence[_Slice], beside: bool) -> Run:
    """One round of a scenario: its slices' sums (and its slices' own rates, to show the spread)."""
    requests = sum(p.run.requests for p in parts)
    seconds = sum(p.run.seconds for p in parts)
    cpus = [p.cpu_seconds for p in parts]
    cpu = None if None in cpus else sum(c or 0.0 for c in cpus) / requests * 1e6
    return Run(
        name,
        requests,
        requests / seconds,
        statistics.median(p.run.p99_ms for p in parts),
        cpu,
        sum(p.beside_seconds for p in parts) / requests * 1e6 if beside else None,
        tuple(p.run.requests / p.run.seconds for p in parts),
    )


def _wrk_seconds() -> float:
    """The CPU time of this process's waited-for children: wrk's, once each run has ended."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def report(runs: list[Run], pairs: Sequence[tuple[str, str]], cpu_label: str = "rowgate CPU µs/req") -> None:
    """Medians per scenario, then each pair's throughput and CPU ratios, per round and overall."""
    names = list(dict.fromkeys(run.scenario for run in runs))
    by_name = {name: [r for r in runs if r.scenario == name] for name in names}
    beside = any(r.beside_us is not None for r in runs)
    print("\nmedians:\n")
    print(f"| scenario | req/s | p99 ms | {cpu_label} |" + (" wrk+upstream CPU µs/req |" if beside else ""))
    print("|---|---|---|---|" + ("---|" if beside else ""))
    for name, mine in by_name.items():
        cpus = [r.cpu_us for r in mine if r.cpu_us is not None]
        cpu = f"{statistics.median(cpus):.0f}" if cpus else "-"
        rps = statistics.median(r.rps for r in mine)
        row = f"| {name} | {rps:.0f} | {statistics.median(r.p99_ms for r in mine):.2f} | {cpu} |"
        others = [r.beside_us for r in mine if r.beside_us is not None]
        print(row + (f" {statistics.median(others):.0f} |" if others else ""))
    print("\nRatios (per round, a round's figures summed over its slices; then the median and the lowest):\n")
    for a, b in pairs:
        if a not in by_name or b not in by_name:
            continue
        _ratio(f"throughput {a} / {b}", [r.rps for r in by_name[a]], [r.rps for r in by_name[b]])
        cpu_a, cpu_b = [r.cpu_us for r in by_name[a]], [r.cpu_us for r in by_name[b]]
        if None not in cpu_a and None not in cpu_b:
            _ratio(f"CPU per request {a} / {b}", cpu_a, cpu_b)  # type: ignore[arg-type]
        _slice_spread(a, b, by_name[a], by_name[b])


def _ratio(label: str, tops: list[float], bottoms: list[float]) -> None:
    ratios = [x / y for x, y in zip(tops, bottoms, strict=True)]
    rounds = ", ".join(f"{r:.2f}" for r in ratios)
    print(f"- {label}: {statistics.median(ratios):.2f}, lowest {min(ratios):.2f} (rounds: {rounds})")


def _slice_spread(a: str, b: str, tops: list[Run], bottoms: list[Run]) -> None:
    """The spread within each round: the throughput ratio of the two scenarios' slices of each
    cycle (run next to each other), lowest, highest and median, and how much each scenario's own
    slices varied (coefficient of variation)."""
    spreads = []
    for top, bottom in zip(tops, bottoms, strict=True):
        if len(top.slice_rps) < 2 or len(top.slice_rps) != len(bottom.slice_rps):
            return
        cycle = [x / y for x, y in zip(top.slice_rps, bottom.slice_rps, strict=True)]
        variation = f"cv {a} {_cv(top.slice_rps):.0%}, {b} {_cv(bottom.slice_rps):.0%}"
        spreads.append(
            f"{min(cycle):.2f} to {max(cycle):.2f}, median {statistics.median(cycle):.2f} ({variation})"
        )
    print(f"  slice by slice, {a} / {b} per cycle: " + "; ".join(spreads))


def _cv(values: Sequence[float]) -> float:
    return statistics.stdev(values) / statistics.mean(values)
