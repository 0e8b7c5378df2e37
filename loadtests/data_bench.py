"""Data API throughput and CPU cost, side by side with a hand-written asyncpg handler, in one run.

Starts, each in its own process: rowgate (``rowgate serve`` with the bundled policies) and a
minimal aiohttp app that runs the same query straight through asyncpg (the baseline), both on a
scratch database holding the demo tables with ``--tenants`` tenants of ``--rows`` tasks each.
Then drives load with ``wrk`` in rounds, alternating the scenarios so that a noisy machine
affects them alike:

* ``direct``: wrk → baseline ``/tasks?limit=50`` (one tenant's tasks, the columns a member sees)
* ``list``: wrk → rowgate ``/v1/data/tasks?limit=50`` as a member of that tenant, with the second
  wall (the default: every statement in a transaction as the data role, under native policies)
* ``unwalled``: the same through a second rowgate with the second wall off (``data.role: null``,
  ``data.native_rls: false``): what the wall costs, measured in the same rounds
* ``get``: wrk → rowgate ``/v1/data/tasks/{id}``

For every run it reads the server process's CPU time from ``/proc`` before and after, so the
report gives requests per second, p99 latency and CPU microseconds per request, and the ratios
list / direct and list / unwalled measured in the same rounds.  It also prints the SQL rowgate runs
for the list request and both query plans (rowgate's and the hand-written query's).

    python loadtests/data_bench.py --rounds 3 --duration 10

PostgreSQL: the server of ``ROWGATE_DATABASE_URL`` (default: the local one); the benchmark creates
a database of its own there and drops it at the end.  Needs ``wrk`` (``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import uuid
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
)

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


#: Per-caller rate limits stay on (their cost is part of every request) but never refuse: the
#: default 3,000 a minute per user would refuse most of a run.
GENEROUS = "{limit: 1000000, window: 1s}"


def write_config(folder: Path, port: int, database_url: str, access_log: bool, wall: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "rowgate.yaml"
    unwalled = "" if wall else ", role: null, native_rls: false"
    path.write_text(
        f"""
data_dir: {folder / "data"}
policies: {ROOT / "config" / "policies.yaml"}
server: {{host: 127.0.0.1, port: {port}, workers: 1}}
tokens: {{issuer: "http://rowgate.bench"}}
database: {{url: "{database_url}", pool_max_size: 4}}
upstream: {{url: null}}
data: {{pool_min_size: 10, pool_max_size: 10, reload: false{unwalled}}}
rate_limits: {{api_key: {GENEROUS}, user: {GENEROUS}, ip: {GENEROUS}, max_api_key: {GENEROUS}}}
logging: {{level: {"warning" if wall else "error"}, access_log: {str(access_log).lower()}}}
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


async def plans(database_url: str) -> None:
    """rowgate's SQL for ``GET /v1/data/tasks?limit=50`` and both plans."""
    import asyncpg

    from rowgate.config.data import DataSettings
    from rowgate.proxy.data.bounded import bounded
    from rowgate.proxy.data.catalog import read_catalog
    from rowgate.proxy.data.restquery import parse_read
    from rowgate.proxy.data.restsql import build_read
    from rowgate.rls.introspect import introspect
    from rowgate.rls.policy import load_policies
    from rowgate.rls.rewrite import Rewriter
    from rowgate.rls.subject import Subject

    conn = await asyncpg.connect(database_url)
    try:
        rewriter = Rewriter(load_policies(ROOT / "config" / "policies.yaml"), schema=await introspect(conn))
        table = (await read_catalog(conn, ["public"]))["public.tasks"]
        statement = build_read(table, parse_read([("limit", "50")], default_limit=100, max_limit=1000))
        subject = Subject(MEMBER, TENANT, frozenset({"user"}), "member")
        rewritten = rewriter.rewrite(statement.sql, subject, len(statement.params))
        prepared = await conn.prepare(rewritten.sql)
        columns = tuple((a.name, a.type.name) for a in prepared.get_attributes())
        runs = bounded(rewritten.sql, DataSettings().max_response_bytes, columns)
        print(f"\nrowgate's statement (bounded, as the data API runs it):\n\n    {runs}\n")
        for title, sql, params in (
            ("rowgate", runs, (*statement.params, *rewritten.params)),
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
    require_wrk()
    with scratch_database(server_url()) as database_url:
        task = asyncio.run(seed(database_url, args.tenants, args.rows))
        asyncio.run(plans(database_url))
        runs = run_benchmark(args, database_url, task)
    print(f"\n{args.rounds} rounds x {args.duration}s, {args.connections} connections")
    report(runs, [("list", "direct"), ("list", "unwalled")], cpu_label="server CPU µs/req")


def run_benchmark(args: argparse.Namespace, database_url: str, task: str) -> list[Run]:
    environ = bench_environ()
    port, direct_port, unwalled_port = free_port(), free_port(), free_port()
    direct = f"http://127.0.0.1:{direct_port}"
    baseline = (
        [sys.executable, "-c", BASELINE, database_url, str(direct_port), TENANT, HAND_WRITTEN],
        f"{direct}/tasks?limit=1",
    )
    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp), port, database_url, args.access_log)
        other = write_config(Path(tmp) / "unwalled", unwalled_port, database_url, args.access_log, wall=False)
        unwalled = f"http://127.0.0.1:{unwalled_port}"
        beside = [
            baseline,
            ([sys.executable, "-m", "rowgate.proxy", "serve", "--config", str(other)], f"{unwalled}/readyz"),
        ]
        with running(config, port, environ, beside) as pids:
            token = asyncio.run(issue_token(config, environ, sub=MEMBER, org_id=TENANT, role="member"))
            auth = {"Authorization": f"Bearer {token}"}
            rowgate = f"http://127.0.0.1:{port}"
            scenarios = {
                "direct": (f"{direct}/tasks?limit=50", {}, pids.beside[0]),
                "list": (f"{rowgate}/v1/data/tasks?limit=50", auth, pids.rowgate),
                "unwalled": (f"{unwalled}/v1/data/tasks?limit=50", auth, pids.beside[1]),
                "get": (f"{rowgate}/v1/data/tasks/{task}", auth, pids.rowgate),
            }
            return measure(scenarios, args.rounds, args.duration, args.connections)


if __name__ == "__main__":
    main()
