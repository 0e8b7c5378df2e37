"""Data API throughput and CPU cost, side by side with a hand-written asyncpg handler, in one run.

Starts, each in its own process: rowgate (``rowgate serve`` with the bundled policies) and a
minimal aiohttp app that runs the same query straight through asyncpg (the baseline), both on a
scratch database holding the demo tables with ``--tenants`` tenants of ``--rows`` tasks each.
Then drives load with ``wrk`` in rounds, alternating the scenarios so that a noisy machine
affects them alike:

* ``direct``: wrk → baseline ``/tasks?limit=50`` (one tenant's tasks, the columns a member sees)
* ``list``: wrk → rowgate ``/v1/data/tasks?limit=50`` as a member of that tenant
* ``get``: wrk → rowgate ``/v1/data/tasks/{id}``

For every run it reads the server process's CPU time from ``/proc`` before and after, so the
report gives requests per second, p99 latency and CPU microseconds per request, and the ratio
list / direct measured in the same rounds.  It also prints the SQL rowgate runs for the list
request and both query plans (rowgate's and the hand-written query's).

    python loadtests/data_bench.py --rounds 3 --duration 10

PostgreSQL: the server of ``ROWGATE_DATABASE_URL`` (default: the local one); the benchmark creates
a database of its own there and drops it at the end.  Needs ``wrk`` (``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from proxy_bench import ROOT, Run, cpu_seconds, free_port, scratch_database, wait_ready, wrk

TENANT = "0a000000-0000-4000-8000-00000000000a"
MEMBER = "a0000000-0000-4000-8000-0000000000a1"
COLUMNS = "id, org_id, created_by, project_id, title, priority, done, created_at"
HAND_WRITTEN = f"SELECT {COLUMNS} FROM tasks WHERE org_id = $1 LIMIT $2"

BASELINE = """
import sys
import asyncpg, orjson, uvloop
from aiohttp import web

QUERY = sys.argv[4]


async def tasks(request):
    limit = int(request.query.get("limit", "50"))
    rows = await request.app["pool"].fetch(QUERY, request.app["tenant"], limit)
    body = orjson.dumps({"data": [dict(r) for r in rows]}, default=str)
    return web.Response(body=body, content_type="application/json")


async def start(app):
    app["pool"] = await asyncpg.create_pool(sys.argv[1], min_size=10, max_size=10)
    yield
    await app["pool"].close()


app = web.Application()
app["tenant"] = sys.argv[3]
app.cleanup_ctx.append(start)
app.router.add_get("/tasks", tasks)
web.run_app(
    app, host="127.0.0.1", port=int(sys.argv[2]), access_log=None, print=None, loop=uvloop.new_event_loop()
)
"""


def write_config(folder: Path, port: int, database_url: str, access_log: bool) -> Path:
    path = folder / "rowgate.yaml"
    path.write_text(
        f"""
data_dir: {folder / "data"}
policies: {ROOT / "config" / "policies.yaml"}
server: {{host: 127.0.0.1, port: {port}}}
database: {{url: "{database_url}", pool_max_size: 4}}
upstream: {{url: null}}
data: {{pool_min_size: 10, pool_max_size: 10, reload: false}}
logging: {{level: warning, access_log: {str(access_log).lower()}}}
"""
    )
    return path


async def seed(database_url: str, tenants: int, rows: int) -> str:
    """The demo tables with ``rows`` tasks per tenant; the id of one of the member's tasks."""
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute((ROOT / "proxy" / "data" / "demo_tables.sql").read_text())
        orgs = [TENANT] + [str(uuid.uuid4()) for _ in range(tenants - 1)]
        # Tenants interleaved, as rows arrive in a live system (not clustered by tenant).
        await conn.execute(
            "INSERT INTO tasks (org_id, created_by, title, priority, internal_notes) "
            "SELECT ($1::uuid[])[1 + n % $3::int], $2::uuid, 'task ' || n, n % 5, 'notes ' || n "
            "FROM generate_series(0, $3::int * $4::int - 1) AS n ORDER BY random()",
            orgs,
            MEMBER,
            tenants,
            rows,
        )
        await conn.execute("VACUUM ANALYZE tasks")
        return str(await conn.fetchval("SELECT id FROM tasks WHERE org_id = $1 LIMIT 1", TENANT))
    finally:
        await conn.close()


async def issue_token(config: Path, environ: dict[str, str]) -> str:
    """A member's access token for the benchmark tenant, signed with the running rowgate's key."""
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
    return (
        TokenService(settings, ring)
        .issue_access(sub=MEMBER, sid=str(uuid.uuid4()), amr=["pwd"], org_id=TENANT, role="member")
        .token
    )


async def plans(database_url: str) -> None:
    """rowgate's SQL for ``GET /v1/data/tasks?limit=50`` and both plans."""
    import asyncpg

    from rls.catalog import read_catalog
    from rls.introspect import introspect
    from rls.policy import load_policies
    from rls.rest import build_read
    from rls.restquery import parse_read
    from rls.rewrite import Rewriter
    from rls.subject import Subject

    conn = await asyncpg.connect(database_url)
    try:
        rewriter = Rewriter(load_policies(ROOT / "config" / "policies.yaml"), schema=await introspect(conn))
        table = (await read_catalog(conn, ["public"]))["public.tasks"]
        statement = build_read(table, parse_read([("limit", "50")], default_limit=100, max_limit=1000))
        subject = Subject(MEMBER, TENANT, frozenset({"user"}), "member")
        rewritten = rewriter.rewrite(statement.sql, subject, len(statement.params))
        print(f"\nrowgate's statement:\n\n    {rewritten.sql}\n")
        for title, sql, params in (
            ("rowgate", rewritten.sql, (*statement.params, *rewritten.params)),
            ("hand-written", HAND_WRITTEN, (uuid.UUID(TENANT), 50)),
        ):
            args = [uuid.UUID(p) if p == TENANT else p for p in params]
            lines = [r[0] for r in await conn.fetch(f"EXPLAIN {sql}", *args)]
            print(f"{title} plan:\n\n" + "\n".join(f"    {line}" for line in lines) + "\n")
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--rows", type=int, default=1000, help="tasks per tenant")
    parser.add_argument("--access-log", action="store_true", help="turn rowgate's access log on")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    server_url = os.environ.get("ROWGATE_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    with scratch_database(server_url) as database_url:
        task = asyncio.run(seed(database_url, args.tenants, args.rows))
        sys.path.insert(0, str(ROOT))
        asyncio.run(plans(database_url))
        runs = run_benchmark(args, database_url, task)
    report(runs, args)


def run_benchmark(args: argparse.Namespace, database_url: str, task: str) -> list[Run]:
    environ = {**os.environ, "ROWGATE_MASTER_KEY": secrets.token_urlsafe(32), "PYTHONPATH": str(ROOT)}
    environ.pop("ROWGATE_CONFIG", None)
    port, direct_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp), port, database_url, args.access_log)
        log = (Path(tmp) / "rowgate.log").open("w")
        baseline = subprocess.Popen(
            [sys.executable, "-c", BASELINE, database_url, str(direct_port), TENANT, HAND_WRITTEN],
            env=environ,
        )
        rowgate = subprocess.Popen(
            [sys.executable, "-m", "proxy", "serve", "--config", str(config)],
            stdout=log,
            stderr=log,
            env=environ,
        )
        try:
            wait_ready(f"http://127.0.0.1:{direct_port}/tasks?limit=1")
            try:
                wait_ready(f"http://127.0.0.1:{port}/readyz")
            except OSError:
                sys.exit("rowgate did not start:\n" + (Path(tmp) / "rowgate.log").read_text())
            token = asyncio.run(issue_token(config, environ))
            auth = {"Authorization": f"Bearer {token}"}
            scenarios = {
                "direct": (f"http://127.0.0.1:{direct_port}/tasks?limit=50", {}, baseline.pid),
                "list": (f"http://127.0.0.1:{port}/v1/data/tasks?limit=50", auth, rowgate.pid),
                "get": (f"http://127.0.0.1:{port}/v1/data/tasks/{task}", auth, rowgate.pid),
            }
            return measure(args, scenarios)
        finally:
            for process in (rowgate, baseline):
                process.terminate()
                process.wait(timeout=30)
            log.close()


def measure(args: argparse.Namespace, scenarios: dict[str, tuple[str, dict[str, str], int]]) -> list[Run]:
    for url, headers, _ in scenarios.values():  # warm up connections, caches and prepared statements
        wrk(url, 2, args.connections, headers)
    runs = []
    for round_number in range(args.rounds):
        for name, (url, headers, pid) in scenarios.items():
            before = cpu_seconds(pid)
            requests, rps, p99 = wrk(url, args.duration, args.connections, headers)
            cpu = (cpu_seconds(pid) - before) / requests * 1e6
            runs.append(Run(name, requests, rps, p99, cpu))
            shown = f"round {round_number + 1} {name:7} {rps:9.0f} req/s  p99 {p99:6.2f} ms"
            print(f"{shown}  server {cpu:.0f} us/req", flush=True)
    return runs


def report(runs: list[Run], args: argparse.Namespace) -> None:
    names = list(dict.fromkeys(run.scenario for run in runs))
    rps = {name: [r.rps for r in runs if r.scenario == name] for name in names}
    print(f"\n{args.rounds} rounds x {args.duration}s, {args.connections} connections, medians:\n")
    print("| scenario | req/s | p99 ms | server CPU µs/req |")
    print("|---|---|---|---|")
    for name in names:
        mine = [r for r in runs if r.scenario == name]
        p99 = statistics.median(r.p99_ms for r in mine)
        cpu = statistics.median(r.cpu_us or 0 for r in mine)
        print(f"| {name} | {statistics.median(rps[name]):.0f} | {p99:.2f} | {cpu:.0f} |")
    ratios = [x / y for x, y in zip(rps["list"], rps["direct"], strict=True)]
    rounds = ", ".join(f"{r:.2f}" for r in ratios)
    print(f"\n- throughput list / direct: {statistics.median(ratios):.2f} (rounds: {rounds})")


if __name__ == "__main__":
    main()
