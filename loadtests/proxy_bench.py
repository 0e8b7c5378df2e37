"""Proxy throughput and CPU cost, side by side in one run.

Starts an upstream and rowgate (each its own process), then drives load with ``wrk`` (Debian/Ubuntu:
``apt-get install wrk``; one thread) in rounds.  Every scenario is warmed up first (not counted);
within a round each scenario runs ``--duration`` seconds in slices of ``--slice`` seconds,
interleaved (``jwt proxied direct``, then ``direct proxied jwt``, ...: the first order random, each
next one reversed), and a round's figure for a scenario is the sum over its slices, so that the
scenarios compared within a round met the same machine, slice by slice, whatever its load did in
the meantime.  Each round's ratio is printed, with the spread of the slices' ratios.

The upstream is nginx answering a fixed body (``--upstream nginx``, the default: one worker, the
cheapest server at hand, so that on a small machine rowgate gets the CPU the upstream does not
need), or rowgate's demo app (``--upstream demo``: aiohttp in Python, which costs about as much CPU
per request as rowgate and competes with it for the cores).

* ``direct``: wrk → upstream ``/public/hello`` (no rowgate): what wrk and the upstream alone
  achieve, the ceiling of the other scenarios
* ``proxied``: wrk → rowgate → upstream, ``/public/hello`` (a public route: no credential)
* ``jwt``: wrk → rowgate → upstream, ``/api/hello`` with a rowgate access token (verified, cached)
* ``api_key``: as ``jwt``, with ``X-API-Key`` (with ``--api-key KEY``, or ``--create-api-key`` to
  create a secret key of an admin in the scratch database)

For every run it reads the rowgate process's CPU time from ``/proc`` before and after (with
workers: the supervisor's and every worker's), so the report gives requests per second, p99
latency and rowgate CPU microseconds per request, and the ratios between scenarios measured in the
same rounds.

``--workers N`` starts ``rowgate serve`` with N worker processes (Redis is then the shared store:
``--redis``, else ``ROWGATE_REDIS_URL``, else the local one).  ``--workers 1,2`` compares: one
rowgate of each size, in front of the same upstream, and the rounds alternate ``jwt/1w`` and
``jwt/2w`` (the authenticated path; ``direct`` beside them).  Throughput there is bounded by the
machine when wrk and the upstream share its cores with rowgate: CPU per request summed over the
workers says whether the workers themselves scale (the same CPU per request at twice the rate).

    python loadtests/proxy_bench.py --workers 1,2 --rounds 5 --duration 10

Per-caller rate limits are on, generous enough never to refuse: every proxied request is checked
against its caller's budget, in the process's own store, or in Redis with ``--redis URL`` (one
round trip per request, as a deployment of several instances runs).

    python loadtests/proxy_bench.py --rounds 3 --duration 10 --create-api-key

PostgreSQL: the server of ``ROWGATE_DATABASE_URL`` (default: the local one); the benchmark creates
a database of its own there and drops it at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (
    ROOT,
    Run,
    Scenario,
    bench_environ,
    free_port,
    issue_token,
    measure,
    report,
    require_wrk,
    running,
    scratch_database,
    server_url,
    upstream_process,
)


def write_config(
    folder: Path,
    port: int,
    upstream: str,
    database_url: str,
    access_log: bool,
    redis: str | None,
    workers: int = 1,
) -> Path:
    path = folder / f"rowgate-{port}.yaml"
    # Without Redis rowgate serves with one worker: ``workers`` left out, the file also suits a
    # rowgate older than the setting (a checkout compared side by side).
    store = f'redis: {{url: "{redis}", key_prefix: "rowgate-bench-{uuid.uuid4().hex[:8]}:"}}' if redis else ""
    generous = "{limit: 1000000, window: 1s}"
    path.write_text(
        f"""
{store}
rate_limits: {{api_key: {generous}, user: {generous}, ip: {generous}, max_api_key: {generous}}}
data_dir: {folder / "data"}
policies: {ROOT / "config" / "policies.yaml"}
server: {{host: 127.0.0.1, port: {port}{f", workers: {workers}" if redis else ""}}}
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


async def create_api_key(config: Path, environ: dict[str, str]) -> str:
    """A secret API key (scope ``*``) of an organisation's admin, written to the bench database."""
    from rowgate.auth.apikeys.format import generate
    from rowgate.auth.db import Database
    from rowgate.config import load_settings

    settings = load_settings(config, environ=environ)
    db = await Database.connect(settings.database.url or "", settings.database)
    key = generate("secret")
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
            await conn.execute(
                "INSERT INTO rowgate.api_keys (org_id, created_by, name, type, prefix, digest, scopes) "
                "VALUES ($1, $2, 'bench', 'secret', $3, $4, '{*}')",
                org,
                user,
                key.prefix,
                key.digest,
            )
    finally:
        await db.close()
    return key.text


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds of each scenario per round")
    parser.add_argument("--slice", type=int, default=1, help="seconds of one wrk run (a slice)")
    parser.add_argument("--seed", type=int, help="for the random orders (repeatable)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--upstream",
        choices=("nginx", "demo"),
        default="nginx",
        help="nginx with a fixed answer (the default: cheap), or the demo app (Python)",
    )
    parser.add_argument("--no-access-log", action="store_true", help="turn rowgate's access log off")
    parser.add_argument("--redis", metavar="URL", help="the shared store (default: rowgate's in-process one)")
    parser.add_argument("--api-key", help="also measure X-API-Key authentication with this key")
    parser.add_argument(
        "--create-api-key",
        action="store_true",
        help="also measure X-API-Key authentication, with a key created in the scratch database",
    )
    parser.add_argument(
        "--workers",
        default="1",
        metavar="N[,M]",
        help="rowgate's worker processes; two counts (1,2) compare them side by side",
    )
    args = parser.parse_args()
    args.workers = [int(n) for n in args.workers.split(",")]
    if max(args.workers) > 1 and not args.redis:  # workers share their state through Redis
        args.redis = os.environ.get("ROWGATE_REDIS_URL", "redis://127.0.0.1:6379/0")
    require_wrk()
    load = os.getloadavg()
    with scratch_database(server_url()) as database_url:
        if len(args.workers) > 1:
            runs = compare_workers(args, database_url)
        else:
            runs = run_benchmark(args, database_url)
    after = os.getloadavg()
    workers = ",".join(map(str, args.workers))
    print(
        f"\n{args.rounds} rounds x {args.duration}s in {args.slice}s slices, {args.connections} connections, "
        f"workers {workers}, upstream {args.upstream}"
    )
    print(f"load average {load[0]:.1f} at the start, {after[0]:.1f} at the end")
    if len(args.workers) > 1:
        one, *others = (f"jwt/{n}w" for n in args.workers)
        report(runs, [(other, one) for other in others])
        ceiling(runs, max(args.workers))
    else:
        report(runs, [("jwt", "proxied"), ("proxied", "direct"), ("api_key", "jwt")])


def run_benchmark(args: argparse.Namespace, database_url: str) -> list[Run]:
    environ = bench_environ()
    app_port, port = free_port(), free_port()
    upstream = f"http://127.0.0.1:{app_port}"
    with tempfile.TemporaryDirectory() as tmp:
        demo = upstream_process(args.upstream, Path(tmp) / "upstream", app_port)
        config = write_config(
            Path(tmp), port, upstream, database_url, not args.no_access_log, args.redis, args.workers[0]
        )
        with running(config, port, environ, [demo]) as pids:
            pid = pids.rowgate
            token = asyncio.run(
                issue_token(config, environ, sub=str(uuid.uuid4()), org_id=str(uuid.uuid4()), role="member")
            )
            if args.create_api_key:
                args.api_key = asyncio.run(create_api_key(config, environ))
            rowgate = f"http://127.0.0.1:{port}"
            scenarios = {
                "direct": (f"{upstream}/public/hello", {}, None),
                "proxied": (f"{rowgate}/public/hello", {}, pid),
                "jwt": (f"{rowgate}/api/hello", {"Authorization": f"Bearer {token}"}, pid),
            }
            if args.api_key:
                scenarios["api_key"] = (f"{rowgate}/api/hello", {"X-API-Key": args.api_key}, pid)
            return measure(
                scenarios,
                args.rounds,
                args.duration,
                args.connections,
                beside=pids.beside,
                slice_seconds=args.slice,
                seed=args.seed,
            )


def compare_workers(args: argparse.Namespace, database_url: str) -> list[Run]:
    """One rowgate per worker count, in front of the same upstream; ``jwt/Nw`` scenarios alternate."""
    environ = bench_environ()
    app_port = free_port()
    upstream = f"http://127.0.0.1:{app_port}"
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        demo = upstream_process(args.upstream, Path(tmp) / "upstream", app_port)
        rowgates, upstream_pids = [], []
        for index, count in enumerate(args.workers):
            port = free_port()
            config = write_config(
                Path(tmp), port, upstream, database_url, not args.no_access_log, args.redis, count
            )
            pids = stack.enter_context(running(config, port, environ, [demo] if index == 0 else []))
            rowgates.append((count, port, config, pids.rowgate))
            upstream_pids += pids.beside
        scenarios: dict[str, Scenario] = {"direct": (f"{upstream}/public/hello", {}, None)}
        sub, org = str(uuid.uuid4()), str(uuid.uuid4())
        for count, port, config, pid in rowgates:  # each its own issuer (its URL): a token of its own
            token = asyncio.run(issue_token(config, environ, sub=sub, org_id=org, role="member"))
            bearer = {"Authorization": f"Bearer {token}"}
            scenarios[f"jwt/{count}w"] = (f"http://127.0.0.1:{port}/api/hello", bearer, pid)
        return measure(
            scenarios,
            args.rounds,
            args.duration,
            args.connections,
            beside=upstream_pids,
            slice_seconds=args.slice,
            seed=args.seed,
        )


def ceiling(runs: list[Run], workers: int) -> None:
    """What ``workers`` workers can reach against one on this machine's cores, when rowgate (X µs
    of CPU per request) shares them with wrk and the upstream (Y µs): one worker is bound by its
    core (1/X), N workers by all of the CPU (cores/(X+Y)), so N workers / 1 ≤ cores·X/(X+Y)."""
    one = [r for r in runs if r.scenario == "jwt/1w" and r.cpu_us is not None and r.beside_us is not None]
    if not one:
        return
    x = statistics.median(r.cpu_us for r in one if r.cpu_us is not None)
    y = statistics.median(r.beside_us for r in one if r.beside_us is not None)
    cores = min(len(os.sched_getaffinity(0)), workers)
    print(
        f"- ceiling of {workers} workers / 1 on {len(os.sched_getaffinity(0))} CPUs: {cores} x {x:.0f} / "
        f"({x:.0f} + {y:.0f}) = {cores * x / (x + y):.2f} (rowgate X and wrk+upstream Y µs/req with one "
        "worker; Redis's own CPU, on the same cores, not counted)"
    )


if __name__ == "__main__":
    main()
