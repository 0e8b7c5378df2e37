"""Identity flows under load: proxied latency during sign-ins, refresh throughput, enumeration timing.

Starts the demo upstream and rowgate (each its own process, production argon2 parameters), then:

* ``signin``: proxied ``/public/hello`` requests at a constant rate (open loop: latency counts from
  when each request was due, so a stalled server cannot hide its stalls), alone and together with
  50 sign-ins per second, in alternating rounds.  Reports proxied p50/p99 for both and their ratio
  (target: p99 with sign-ins within 2x of p99 without), and what the sign-ins achieved.
* ``refresh``: many clients refreshing their own session as fast as they can (each refresh needs
  the token the previous one returned).  Reports refreshes per second and rowgate's CPU time per
  refresh, read from ``/proc``: ``1e6 / µs`` is what one core of rowgate sustains (target: 1,000/s).
* ``timing``: sign-ins with a wrong password for a known and for an unknown address, and reset
  requests for both, interleaved; reports the latency distributions side by side (enumeration by
  timing: the medians should differ by noise only).

Each load generator is a separate process, so the client's own CPU is not rowgate's.

    python loadtests/identity_bench.py signin --rounds 3 --duration 20 --rate 200 --signins 50
    python loadtests/identity_bench.py refresh --duration 20 --clients 64 --drivers 2
    python loadtests/identity_bench.py timing --samples 400

PostgreSQL: the server of ``ROWGATE_DATABASE_URL`` (default: the local one); a scratch database is
created there and dropped at the end.  Redis: ``ROWGATE_REDIS_URL`` when set (else in-process).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import secrets
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ROOT, bench_environ, cpu_seconds, free_port, running, scratch_database, server_url

PASSWORD = "Bench-Password-42"


@dataclass
class Sample:
    latency_ms: float
    status: int


def write_config(folder: Path, port: int, upstream: str, database_url: str, argon2: str) -> Path:
    redis = os.environ.get("ROWGATE_REDIS_URL", "")
    path = folder / "rowgate.yaml"
    path.write_text(
        f"""
data_dir: {folder / "data"}
policies: {ROOT / "config" / "policies.yaml"}
server: {{host: 127.0.0.1, port: {port}, workers: 1}}
rate_limits: {{ip: {{limit: 1000000, window: 1s}}, user: {{limit: 1000000, window: 1s}}}}
database: {{url: "{database_url}", pool_max_size: 20}}
redis: {{url: "{redis}", key_prefix: "bench{secrets.token_hex(4)}:"}}
upstream: {{url: "{upstream}"}}
routes:
  default: deny
  rules:
    - {{path: /public/**, level: public}}
auth:
  argon2: {argon2}
  rate_limits:
    signin: {{limit: 1000000, window: 1m}}
    signup: {{limit: 1000000, window: 1m}}
    reset_request: {{limit: 1000000, window: 1m}}
    mail_per_address: {{limit: 1000000, window: 1m}}
  lockout:
    ip: {{threshold: 10000}}
    account: {{threshold: 10000}}
logging: {{level: warning, access_log: false}}
"""
    )
    return path


@contextlib.contextmanager
def running_rowgate(database_url: str, argon2: str) -> Iterator[str]:
    """Upstream and rowgate processes; yields rowgate's base URL and stores its pid in ``PIDS``."""
    environ = bench_environ()
    app_port, port = free_port(), free_port()
    upstream = f"http://127.0.0.1:{app_port}"
    demo = ([sys.executable, "-m", "rowgate.proxy.demo", "--port", str(app_port)], f"{upstream}/public/hello")
    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp), port, upstream, database_url, argon2)
        with running(config, port, environ, [demo]) as pids:
            PIDS["rowgate"] = pids.rowgate
            yield f"http://127.0.0.1:{port}"


PIDS: dict[str, int] = {}


def loop_cpu(pid: int) -> float:
    """CPU seconds of the process's main thread (the event loop), without its argon2 threads."""
    fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- load generators (each runs in its own process) ---------------------------------------------


async def _open_loop(
    url: str, rate: float, duration: float, bodies: list[dict[str, Any]] | None
) -> list[Sample]:
    """Send ``rate`` requests per second for ``duration`` seconds, whatever the answers' pace."""
    import aiohttp

    samples: list[Sample] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def one(due: float, n: int) -> None:
            try:
                if bodies is None:
                    async with http.get(url) as response:
                        await response.read()
                else:
                    async with http.post(url, json=bodies[n % len(bodies)]) as response:
                        await response.read()
                status = response.status
            except aiohttp.ClientError:
                status = 0
            samples.append(Sample((time.perf_counter() - due) * 1000, status))

        start = time.perf_counter()
        tasks = []
        for n in range(int(rate * duration)):
            due = start + n / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            tasks.append(asyncio.create_task(one(due, n)))
        await asyncio.gather(*tasks)
    return samples


def open_loop(url: str, rate: float, duration: float, bodies: list[dict[str, Any]] | None) -> list[Sample]:
    return asyncio.run(_open_loop(url, rate, duration, bodies))


async def _refresh_clients(base: str, tokens: list[str], duration: float) -> int:
    import aiohttp

    done = 0
    deadline = time.perf_counter() + duration
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

        async def client(token: str) -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                async with http.post(f"{base}/v1/auth/refresh", json={"refreshToken": token}) as response:
                    body = await response.json()
                if response.status != 200:
                    raise RuntimeError(f"refresh failed: {response.status} {body}")
                token = body["refreshToken"]
                done += 1

        await asyncio.gather(*(client(t) for t in tokens))
    return done


def refresh_clients(base: str, tokens: list[str], duration: float) -> int:
    return asyncio.run(_refresh_clients(base, tokens, duration))


# --- scenarios ----------------------------------------------------------------------------------


async def create_users(base: str, count: int) -> list[dict[str, Any]]:
    """Sign up ``count`` users (a few at a time: production argon2 is slow on purpose)."""
    import aiohttp

    users = [{"email": f"bench{n}@example.com", "password": PASSWORD} for n in range(count)]
    async with aiohttp.ClientSession() as http:
        semaphore = asyncio.Semaphore(4)

        async def signup(user: dict[str, Any]) -> dict[str, Any]:
            async with semaphore:
                while True:
                    async with http.post(f"{base}/v1/auth/email/signup", json=user) as response:
                        if response.status == 503:  # argon2 is saturated: come back when told
                            await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                            continue
                        if response.status != 201:
                            raise RuntimeError(f"signup failed: {response.status} {await response.text()}")
                        return dict(await response.json())

        await asyncio.gather(*(signup(u) for u in users))
    return users


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def describe(samples: list[Sample]) -> str:
    latencies = [s.latency_ms for s in samples]
    bad = sum(1 for s in samples if not 200 <= s.status < 300)
    return (
        f"n={len(samples)} p50={percentile(latencies, 0.5):.2f}ms p99={percentile(latencies, 0.99):.2f}ms"
        f" non-2xx={bad}"
    )


def signin_scenario(args: argparse.Namespace, base: str) -> None:
    users = asyncio.run(create_users(base, args.users))
    proxied_url, signin_url = f"{base}/public/hello", f"{base}/v1/auth/email/signin"
    pool = multiprocessing.get_context("spawn").Pool(2)
    pool.apply(open_loop, (proxied_url, args.rate, 3, None))  # warm up
    alone: list[float] = []
    loaded: list[float] = []
    pid = PIDS["rowgate"]
    for round_number in range(args.rounds):
        before = loop_cpu(pid)
        quiet = pool.apply(open_loop, (proxied_url, args.rate, args.duration, None))
        quiet_cpu = loop_cpu(pid) - before
        print(f"round {round_number + 1} proxied alone:         {describe(quiet)}", flush=True)
        before = loop_cpu(pid)
        busy_async = pool.apply_async(open_loop, (proxied_url, args.rate, args.duration, None))
        signins_async = pool.apply_async(open_loop, (signin_url, args.signins, args.duration, users))
        busy, signins = busy_async.get(), signins_async.get()
        busy_cpu = loop_cpu(pid) - before
        print(f"round {round_number + 1} proxied with sign-ins: {describe(busy)}", flush=True)
        print(f"round {round_number + 1} sign-ins:              {describe(signins)}", flush=True)
        answered = sum(1 for s in signins if s.status == 200)
        busy_503 = [s.latency_ms for s in signins if s.status == 503]
        ok_ms = [s.latency_ms for s in signins if s.status == 200]
        print(
            f"round {round_number + 1} sign-ins answered 200: {answered}"
            + (f" (p50 {percentile(ok_ms, 0.5):.0f} ms)" if ok_ms else "")
            + f", 503 busy: {len(busy_503)}"
            + (f" (p50 {percentile(busy_503, 0.5):.1f} ms)" if busy_503 else ""),
            flush=True,
        )
        extra = (busy_cpu - quiet_cpu) / max(1, answered) * 1000
        print(
            f"round {round_number + 1} event-loop thread CPU: {quiet_cpu:.2f}s alone, {busy_cpu:.2f}s with "
            f"sign-ins (~{extra:.1f} ms per successful sign-in)",
            flush=True,
        )
        alone.append(percentile([s.latency_ms for s in quiet], 0.99))
        loaded.append(percentile([s.latency_ms for s in busy], 0.99))
    pool.close()
    ratios = [b / a for a, b in zip(alone, loaded, strict=True)]
    shown = ", ".join(f"{v:.2f}" for v in alone)
    print(f"\nproxied p99 alone: {shown} ms (median {statistics.median(alone):.2f})")
    print(f"proxied p99 with {args.signins} sign-ins/s: {', '.join(f'{v:.2f}' for v in loaded)} ms")
    print(f"ratio per round: {', '.join(f'{r:.2f}' for r in ratios)}; median {statistics.median(ratios):.2f}")


def fresh_sessions(base: str, users: list[dict[str, Any]], count: int) -> list[str]:
    """Refresh tokens of ``count`` new sessions."""
    tokens = []
    for n in range(count):
        request = urllib.request.Request(
            f"{base}/v1/auth/email/signin",
            data=json.dumps(users[n % len(users)]).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request) as response:
            tokens.append(json.loads(response.read())["refreshToken"])
    return tokens


def refresh_scenario(args: argparse.Namespace, base: str) -> None:
    users = asyncio.run(create_users(base, 8))
    pool = multiprocessing.get_context("spawn").Pool(args.drivers)
    warm = fresh_sessions(base, users, args.clients)
    pool.starmap(refresh_clients, [(base, warm[i :: args.drivers], 3) for i in range(args.drivers)])
    tokens = fresh_sessions(base, users, args.clients)
    pid = PIDS["rowgate"]
    before, started = cpu_seconds(pid), time.perf_counter()
    shares = [(base, tokens[i :: args.drivers], args.duration) for i in range(args.drivers)]
    done = sum(pool.starmap(refresh_clients, shares))
    elapsed, cpu = time.perf_counter() - started, cpu_seconds(pid) - before
    pool.close()
    per_refresh = cpu / done * 1e6
    print(f"{done} refreshes in {elapsed:.1f}s: {done / elapsed:.0f}/s achieved")
    print(f"rowgate CPU {cpu:.2f}s: {per_refresh:.0f} µs per refresh")
    print(f"-> {1e6 / per_refresh:.0f} refreshes/s per core of rowgate")


def timing_scenario(args: argparse.Namespace, base: str) -> None:
    asyncio.run(create_users(base, 1))
    results = asyncio.run(_timing(base, args.samples))
    for name, latencies in results.items():
        print(
            f"{name:28} n={len(latencies)} p10={percentile(latencies, 0.1):.2f} "
            f"p50={percentile(latencies, 0.5):.2f} p90={percentile(latencies, 0.9):.2f} ms"
        )


async def _timing(base: str, samples: int) -> dict[str, list[float]]:
    import aiohttp

    wrong = "Wrong-1-Pass"
    cases = {
        "signin wrong password": (
            "/v1/auth/email/signin",
            {"email": "bench0@example.com", "password": wrong},
        ),
        "signin unknown address": (
            "/v1/auth/email/signin",
            {"email": "nobody@example.com", "password": wrong},
        ),
        "reset known address": ("/v1/auth/password/reset/request", {"email": "bench0@example.com"}),
        "reset unknown address": ("/v1/auth/password/reset/request", {"email": "nobody@example.com"}),
    }
    results: dict[str, list[float]] = {name: [] for name in cases}
    async with aiohttp.ClientSession() as http:
        for _ in range(samples):
            for name, (path, body) in cases.items():
                started = time.perf_counter()
                async with http.post(f"{base}{path}", json=body) as response:
                    await response.read()
                results[name].append((time.perf_counter() - started) * 1000)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="scenario", required=True)
    signin = sub.add_parser("signin")
    signin.add_argument("--rounds", type=int, default=3)
    signin.add_argument("--duration", type=float, default=20)
    signin.add_argument("--rate", type=float, default=200, help="proxied requests per second")
    signin.add_argument("--signins", type=float, default=50, help="sign-ins per second")
    signin.add_argument("--users", type=int, default=50)
    refresh = sub.add_parser("refresh")
    refresh.add_argument("--duration", type=float, default=20)
    refresh.add_argument("--clients", type=int, default=64)
    refresh.add_argument("--drivers", type=int, default=2, help="load generator processes")
    timing = sub.add_parser("timing")
    timing.add_argument("--samples", type=int, default=400)
    parser.add_argument(
        "--argon2",
        default="{}",
        help="auth.argon2 settings as YAML flow (default: production's OWASP values)",
    )
    args = parser.parse_args()
    scenario = {"signin": signin_scenario, "refresh": refresh_scenario, "timing": timing_scenario}[
        args.scenario
    ]
    with scratch_database(server_url()) as database_url, running_rowgate(database_url, args.argon2) as base:
        scenario(args, base)


if __name__ == "__main__":
    main()
