"""Revocation latency across instances: how long after a sign-out returns on instance A does
instance B refuse the signed-out token?

Starts the demo upstream and two rowgate processes (A and B) on one scratch PostgreSQL database
and one Redis.  For each sample a fresh user signs up on A and calls the upstream through B once
(B has verified and cached the token); then the session signs out on A, and from the moment that
answer arrives a client calls B with the token, request after request, until B answers 401.  The
latency of a sample is the time from the sign-out's answer to the end of the first 401 (0 when B's
first answer is already a 401).  Target: under 50 ms.

``--flush`` also flushes Redis before every sample's sign-out half the time (the store losing its
state must not slow revocation down or lose it), and starts a third instance after the last
sample that must refuse every signed-out token.

    python loadtests/revocation_bench.py --samples 300
    python loadtests/revocation_bench.py --samples 300 --flush

PostgreSQL: the server of ``ROWGATE_DATABASE_URL`` (default: the local one); a scratch database is
created there and dropped at the end.  Redis: ``ROWGATE_REDIS_URL`` (default: the local one, under
a key prefix of its own; ``--flush`` needs a Redis of its own, since it flushes everything).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import redis.asyncio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ROOT, bench_environ, free_port, running, scratch_database, server_url, wait_ready

PASSWORD = "Bench-Password-42"


def write_config(folder: Path, name: str, port: int, upstream: str, database_url: str, redis: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(
        f"""
data_dir: {folder / "data"}
policies: {ROOT / "config" / "policies.yaml"}
server: {{host: 127.0.0.1, port: {port}, public_url: "http://rowgate.bench", workers: 1}}
database: {{url: "{database_url}"}}
redis: {{url: "{redis}", key_prefix: "{folder.name}:"}}
upstream: {{url: "{upstream}"}}
routes:
  default: deny
  rules:
    - {{path: /api/**, level: authenticated}}
auth:
  argon2: {{memory_cost: 64, time_cost: 1}}
  rate_limits:
    signup: {{limit: 1000000, window: 1m}}
logging: {{level: warning, access_log: false}}
"""
    )
    return path


@contextlib.contextmanager
def two_instances(database_url: str, redis: str) -> Iterator[tuple[str, str, Path, dict[str, str]]]:
    """The demo upstream and instances A and B; yields their URLs, the config folder and the
    environment (to start more instances like them)."""
    environ = bench_environ()
    app_port, port_a, port_b = free_port(), free_port(), free_port()
    upstream = f"http://127.0.0.1:{app_port}"
    with tempfile.TemporaryDirectory(prefix="revbench") as tmp:
        folder = Path(tmp)
        config_a = write_config(folder, "a", port_a, upstream, database_url, redis)
        config_b = write_config(folder, "b", port_b, upstream, database_url, redis)
        beside = [
            (
                [sys.executable, "-m", "rowgate.proxy.demo", "--port", str(app_port)],
                f"{upstream}/public/hello",
            ),
            (
                [sys.executable, "-m", "rowgate.proxy", "serve", "--config", str(config_b)],
                f"http://127.0.0.1:{port_b}/readyz",
            ),
        ]
        with running(config_a, port_a, environ, beside):
            yield f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}", folder, environ


async def whoami(http: aiohttp.ClientSession, base: str, token: str) -> int:
    async with http.get(f"{base}/api/whoami", headers={"Authorization": f"Bearer {token}"}) as response:
        await response.read()
        return response.status


async def one_sample(
    http: aiohttp.ClientSession, a: str, b: str, n: int, flush: str | None
) -> tuple[float, int, str]:
    """Milliseconds until B refuses the token after A's sign-out answered, how many calls to B
    that took, and the token."""
    body = {"email": f"rev{n}-{secrets.token_hex(4)}@example.com", "password": PASSWORD}
    async with http.post(f"{a}/v1/auth/email/signup", json=body) as response:
        assert response.status == 201, await response.text()
        token = (await response.json())["accessToken"]
    assert await whoami(http, b, token) == 200  # B has verified (and cached) the token
    if flush:
        client = redis.asyncio.Redis.from_url(flush)
        await client.flushall()
        await client.aclose()
    async with http.post(f"{a}/v1/auth/signout", headers={"Authorization": f"Bearer {token}"}) as response:
        assert response.status == 204, await response.text()
    returned = time.perf_counter()
    calls = 1
    while await whoami(http, b, token) != 401:
        calls += 1
        if time.perf_counter() - returned > 10:
            raise RuntimeError("B still accepts the token 10 s after the sign-out")
    return (time.perf_counter() - returned) * 1000, calls, token


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def measure(
    a: str, b: str, samples: int, flush: str | None
) -> tuple[list[float], list[int], list[str]]:
    latencies, calls, tokens = [], [], []
    async with aiohttp.ClientSession() as http:
        for n in range(samples):
            latency, count, token = await one_sample(http, a, b, n, flush if flush and n % 2 else None)
            latencies.append(latency)
            calls.append(count)
            tokens.append(token)
    return latencies, calls, tokens


async def all_refused(base: str, tokens: list[str]) -> bool:
    async with aiohttp.ClientSession() as http:
        return all([await whoami(http, base, token) == 401 for token in tokens])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--flush", action="store_true", help="flush Redis before half the sign-outs")
    args = parser.parse_args()
    if args.flush and "ROWGATE_REDIS_URL" not in os.environ:
        sys.exit("--flush flushes the whole Redis: set ROWGATE_REDIS_URL to a Redis of its own")
    redis = os.environ.get("ROWGATE_REDIS_URL", "redis://127.0.0.1:6379/0")
    with (
        scratch_database(server_url()) as database_url,
        two_instances(database_url, redis) as (a, b, folder, env),
    ):
        latencies, calls, tokens = asyncio.run(measure(a, b, args.samples, redis if args.flush else None))
        print(f"samples {len(latencies)}  (sign-out on A, then B polled until it answers 401)")
        print(
            f"median {statistics.median(latencies):.2f} ms  p95 {percentile(latencies, 0.95):.2f} ms  "
            f"p99 {percentile(latencies, 0.99):.2f} ms  max {max(latencies):.2f} ms  "
            f"refused at B's first answer: {calls.count(1)} of {len(calls)}"
        )
        if args.flush:
            port = free_port()
            config = write_config(folder, "c", port, "http://127.0.0.1:1", database_url, redis)
            late = subprocess.Popen(
                [sys.executable, "-m", "rowgate.proxy", "serve", "--config", str(config)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                wait_ready(f"http://127.0.0.1:{port}/readyz")
                refused = asyncio.run(all_refused(f"http://127.0.0.1:{port}", tokens))
                print(f"an instance started after the flushes refuses every signed-out token: {refused}")
            finally:
                late.terminate()
                late.wait(timeout=30)


if __name__ == "__main__":
    main()
