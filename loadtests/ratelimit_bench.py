"""Per-caller rate limits under load: what checking costs, and whether an over-limit key slows
anyone else.

Starts the demo upstream app, Redis-backed rowgate twice on one database and one Redis (``limited``:
``rate_limits`` on; ``unlimited``: off), then drives load with ``wrk``
(``apt-get install wrk``) in alternating rounds.

Cost (``--part cost``): an authenticated route with a JWT and with an API key, on each instance;
the limits are generous, so every request is checked (one Redis round trip) and none refused.

Isolation (``--part isolation``): a ``victim`` key measures its latency with a few connections
while nothing else runs (``quiet``), while another key hammers the same instance within its limit
(``busy``: every answer a 200 from the upstream), and while a key hammers far over its limit
(``flood``: almost every answer a 429).  An over-limit key must not slow the others more than the
same traffic within its limit does.

    python loadtests/ratelimit_bench.py --rounds 3 --duration 10

PostgreSQL: the server of ``ROWGATE_DATABASE_URL`` (default: the local one); Redis:
``ROWGATE_REDIS_URL`` (default: the local one, under a key prefix of its own).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (
    ROOT,
    Run,
    bench_environ,
    free_port,
    issue_token,
    measure,
    report,
    require_wrk,
    running,
    scratch_database,
    server_url,
    wrk,
)


def write_config(folder: Path, name: str, port: int, upstream: str, database_url: str, limits: bool) -> Path:
    redis = os.environ.get("ROWGATE_REDIS_URL", "redis://127.0.0.1:6379/0")
    generous = "{limit: 1000000, window: 1s}"
    path = folder / f"{name}.yaml"
    path.write_text(
        f"""
data_dir: {folder / name}
policies: {ROOT / "config" / "policies.yaml"}
server: {{host: 127.0.0.1, port: {port}, workers: 1}}
database: {{url: "{database_url}"}}
redis: {{url: "{redis}", key_prefix: "rowgate-bench-{uuid.uuid4().hex[:8]}:"}}
upstream: {{url: "{upstream}"}}
tokens: {{issuer: "http://rowgate-bench"}}   # both instances accept one token
routes:
  default: deny
  rules:
    - {{path: /public/**, level: public}}
    - {{path: /api/**, level: authenticated}}
rate_limits:
  enabled: {str(limits).lower()}
  api_key: {generous}
  user: {generous}
  ip: {generous}
  max_api_key: {generous}
logging: {{level: warning, access_log: false}}
"""
    )
    return path


async def create_keys(config: Path, environ: dict[str, str], limits: dict[str, int | None]) -> dict[str, str]:
    """Secret keys (scope ``*``) of an organisation's admin, each with its own requests per second."""
    from rowgate.auth.apikeys.format import generate
    from rowgate.auth.db import Database
    from rowgate.config import load_settings

    settings = load_settings(config, environ=environ)
    db = await Database.connect(settings.database.url or "", settings.database)
    keys = {}
    try:
        async with db.transaction() as conn:
            org = await conn.fetchval("INSERT INTO rowgate.orgs (name) VALUES ('bench') RETURNING id")
            user = await conn.fetchval(
                "INSERT INTO rowgate.users (email) VALUES ($1) RETURNING id",
                f"bench-{uuid.uuid4().hex}@example.com",
            )
            await conn.execute(
                "INSERT INTO rowgate.memberships (org_id, user_id, role) VALUES ($1, $2, 'admin')", org, user
            )
            for name, per_second in limits.items():
                key = generate("secret")
                await conn.execute(
                    "INSERT INTO rowgate.api_keys (org_id, created_by, name, type, prefix, digest, scopes, "
                    "rate_limit, rate_window) VALUES ($1, $2, $3, 'secret', $4, $5, '{*}', $6, $7)",
                    org,
                    user,
                    name,
                    key.prefix,
                    key.digest,
                    per_second,
                    None if per_second is None else timedelta(seconds=1),
                )
                keys[name] = key.text
    finally:
        await db.close()
    return keys


def hammer(url: str, duration: int, connections: int, key: str) -> subprocess.Popen[str]:
    """wrk at full speed with ``key`` in the background (its answers may be 429s)."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-H", f"X-API-Key: {key}", url]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)


def isolation(url: str, keys: dict[str, str], rounds: int, duration: int, connections: int) -> list[Run]:
    runs = []
    for round_number in range(rounds):
        for scenario, other in (("quiet", None), ("busy", "busy"), ("flood", "flood")):
            background = hammer(url, duration + 2, connections, keys[other]) if other else None
            try:
                requests, rps, p99 = wrk(url, duration, 4, {"X-API-Key": keys["victim"]})
            finally:
                out = background.communicate()[0] if background is not None else ""
            runs.append(Run(scenario, requests, rps, p99, None))
            shown = f"{rps:8.0f} req/s  p99 {p99:6.2f} ms"
            print(f"round {round_number + 1} victim while {scenario:6} {shown}", flush=True)
            summary = [
                line.strip() for line in out.splitlines() if "Requests/sec" in line or "Non-2xx" in line
            ]
            if summary:
                print("   the other key: " + "; ".join(summary), flush=True)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--part", choices=["cost", "isolation", "both"], default="both")
    args = parser.parse_args()
    require_wrk()
    environ = bench_environ()
    with scratch_database(server_url()) as database_url, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        app_port, port, other_port = free_port(), free_port(), free_port()
        upstream = f"http://127.0.0.1:{app_port}"
        limited = write_config(folder, "limited", port, upstream, database_url, True)
        unlimited = write_config(folder, "unlimited", other_port, upstream, database_url, False)
        demo = (
            [sys.executable, "-m", "rowgate.proxy.demo", "--port", str(app_port)],
            f"{upstream}/public/hello",
        )
        second = (
            [sys.executable, "-m", "rowgate.proxy", "serve", "--config", str(unlimited)],
            f"http://127.0.0.1:{other_port}/readyz",
        )
        with running(limited, port, environ, [demo, second]) as pids:
            token = asyncio.run(
                issue_token(limited, environ, sub=str(uuid.uuid4()), org_id=str(uuid.uuid4()), role="member")
            )
            keys = asyncio.run(
                create_keys(limited, environ, {"victim": None, "busy": None, "flood": 50, "any": None})
            )
            on, off = f"http://127.0.0.1:{port}/api/hello", f"http://127.0.0.1:{other_port}/api/hello"

            jwt, key = {"Authorization": f"Bearer {token}"}, {"X-API-Key": keys["any"]}
            if args.part in ("cost", "both"):
                runs = measure(
                    {
                        "jwt_off": (off, jwt, pids.beside[1]),
                        "jwt_on": (on, jwt, pids.rowgate),
                        "key_off": (off, key, pids.beside[1]),
                        "key_on": (on, key, pids.rowgate),
                    },
                    args.rounds,
                    args.duration,
                    args.connections,
                )
                print(f"\ncost: {args.rounds} rounds x {args.duration}s, {args.connections} connections")
                report(runs, [("jwt_on", "jwt_off"), ("key_on", "key_off")])
            if args.part in ("isolation", "both"):
                runs = isolation(on, keys, args.rounds, args.duration, args.connections)
                print(f"\nisolation: the victim key on 4 connections, the other key on {args.connections}")
                report(runs, [("flood", "quiet"), ("busy", "quiet"), ("flood", "busy")])
                for top, bottom in (("flood", "quiet"), ("busy", "quiet"), ("flood", "busy")):
                    print(f"- victim p99 {top} / {bottom}: {p99_ratio(runs, top, bottom):.2f}")


def p99_ratio(runs: list[Run], top: str, bottom: str) -> float:
    """The median, over rounds, of the ratio of two scenarios' p99 latencies."""
    tops = [r.p99_ms for r in runs if r.scenario == top]
    bottoms = [r.p99_ms for r in runs if r.scenario == bottom]
    return statistics.median(a / b for a, b in zip(tops, bottoms, strict=True))


if __name__ == "__main__":
    main()
