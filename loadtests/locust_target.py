"""What the locust file runs against: ``rowgate serve --workers N`` with Redis, the demo app and
the demo tables on a scratch database, until Ctrl-C.

    python loadtests/locust_target.py --workers 2 --port 8080

rowgate trusts the load generator (``server.trusted_proxies: [127.0.0.1]``), so each locust user's
``X-Forwarded-For`` makes it a client of its own (sign-up, sign-in and IP budgets as in production);
the rest is the bundled configuration in ``mode: dev`` (signup signs in at once, mail to files).
PostgreSQL: the server of ``ROWGATE_DATABASE_URL`` (default: the local one); Redis:
``ROWGATE_REDIS_URL`` (default: the local one), under a key prefix of the run's own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ROOT, bench_environ, free_port, running, scratch_database, server_url


def write_config(folder: Path, port: int, app_port: int, database_url: str, workers: int) -> Path:
    redis_url = os.environ.get("ROWGATE_REDIS_URL", "redis://127.0.0.1:6379/0")
    path = folder / "rowgate.yaml"
    path.write_text(
        f"""
mode: dev
data_dir: {folder / "data"}
policies: {ROOT / "config" / "policies.yaml"}
server: {{host: 127.0.0.1, port: {port}, workers: {workers}, trusted_proxies: [127.0.0.1]}}
database: {{url: "{database_url}"}}
redis: {{url: "{redis_url}", key_prefix: "locust:{uuid.uuid4().hex[:12]}:"}}
upstream: {{url: "http://127.0.0.1:{app_port}"}}
routes: {{rules: [{{path: /public/**, level: public}}, {{path: /api/**, level: authenticated}}]}}
logging: {{level: warning, access_log: false}}
"""
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stops as Ctrl-C does: cleaned up
    from rowgate.proxy.data.demo import create_demo_tables

    environ = bench_environ()
    environ.pop("ROWGATE_REDIS_URL", None)
    app_port = free_port()
    app = (
        [sys.executable, "-m", "rowgate.proxy.demo", "--port", str(app_port)],
        f"http://127.0.0.1:{app_port}/",
    )
    with tempfile.TemporaryDirectory() as tmp, scratch_database(server_url()) as database_url:
        asyncio.run(create_demo_tables(database_url))
        config = write_config(Path(tmp), args.port, app_port, database_url, args.workers)
        with running(config, args.port, environ, [app]):
            print(
                f"rowgate ({args.workers} workers) at http://127.0.0.1:{args.port}; stop with Ctrl-C",
                flush=True,
            )
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()


if __name__ == "__main__":
    main()
