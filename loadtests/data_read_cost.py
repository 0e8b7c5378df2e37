"""What one REST read costs the data layer behind the second wall, in process: database round
trips, wall time, CPU per read (rowgate's, and the PostgreSQL backend's from ``/proc``), and how
often PostgreSQL ran the read with its cached generic plan or planned it anew, for ``GET
/v1/data/tasks?limit=50`` (its answer's JSON body, as the handler sends it) and ``GET
/v1/data/tasks/{id}`` as a member, one read after the other on a pool of one connection.

No HTTP, no tokens: the data API's own path (policy, rewrite, runner, asyncpg), so that the figure
moves with the data layer alone.  The round trips are counted by asyncpg (queries sent on the
connection); the CPU is this process's and its backend's.  Run it in two checkouts, alternating,
to compare them:

    python loadtests/data_read_cost.py --reads 2000

PostgreSQL: the server of ``ROWGATE_DATABASE_URL`` (default: the local one); it creates a database
of its own there (the ``data_bench`` tables and rows, the second wall put up by rowgate at start)
and drops it at the end; the backend's CPU is read from ``/proc``, so the server must run on this
machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data_bench import MEMBER, TENANT, seed
from harness import ROOT, scratch_database, server_url


async def measure(database_url: str, reads: int) -> None:
    from rowgate.config import load_settings
    from rowgate.proxy.data.access import UNCHECKED, Caller
    from rowgate.proxy.data.service import open_data_api
    from rowgate.rls.subject import Subject

    with tempfile.TemporaryDirectory() as tmp:
        overrides = {
            "policies": str(ROOT / "config" / "policies.yaml"),
            "data_dir": tmp,
            "database.url": database_url,
            "data.pool_min_size": 1,
            "data.pool_max_size": 1,
            "data.reload": False,
            "upstream.url": None,
        }
        settings = load_settings(overrides=overrides, environ={})
        async with open_data_api(settings, database_url) as api:
            caller = Caller(Subject(MEMBER, TENANT, frozenset({"user"}), "member"), UNCHECKED)
            task = orjson.loads(await api.read(caller, "tasks", [("limit", "1")]))["data"][0]["id"]
            async with api.runner.pool.connection() as conn:
                protocol = conn._con._protocol  # asyncpg's count of queries sent on it
                backend = await conn.fetchval("SELECT pg_backend_pid()")
            reads_of: dict[str, Callable[[], Awaitable[Any]]] = {
                "list": lambda: api.read(caller, "tasks", [("limit", "50")]),
                "get": lambda: api.get(caller, "tasks", task, None),
            }
            print(f"policy role: {api.policy.role or 'none (no second wall)'}")
            for name, read in reads_of.items():
                for _ in range(20):  # past the first plans, into the cached generic one
                    await read()
                before = await plans(api)
                sent = protocol.queries_count
                started, cpu, database = time.perf_counter(), time.process_time(), backend_cpu(backend)
                for _ in range(reads):
                    await read()
                wall = (time.perf_counter() - started) / reads * 1e6
                used = (time.process_time() - cpu) / reads * 1e6
                served = (backend_cpu(backend) - database) / reads * 1e6
                trips = (protocol.queries_count - sent) / reads
                after = await plans(api)
                generic, custom = (sum(after[s][i] - before.get(s, (0, 0))[i] for s in after) for i in (0, 1))
                print(
                    f"{name}: {trips:.1f} round trips, {wall:.0f} µs wall, {used:.0f} µs CPU per read, "
                    f"{served:.0f} µs of PostgreSQL's; plans: {generic} generic (cached), {custom} custom"
                )


async def plans(api: Any) -> dict[str, tuple[int, int]]:
    """The connection's prepared statements and how often PostgreSQL ran each with its cached
    generic plan or planned it anew for the values (a custom plan)."""
    async with api.runner.pool.connection() as conn:
        rows = await conn.fetch(
            "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement NOT LIKE '%pg_prepared_statements%'"
        )
    return {r["statement"]: (r["generic_plans"], r["custom_plans"]) for r in rows}


def backend_cpu(pid: int) -> float:
    """CPU seconds a PostgreSQL backend on this machine used so far (user and system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--rows", type=int, default=1000, help="tasks per tenant")
    args = parser.parse_args()
    with scratch_database(server_url()) as database_url:
        asyncio.run(seed(database_url, args.tenants, args.rows))
        asyncio.run(measure(database_url, args.reads))


if __name__ == "__main__":
    main()
