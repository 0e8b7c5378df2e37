"""Time starting rowgate the way a test does: on a fresh copy of the migrated template database,
with the bundled config (cheap argon2id), a Redis prefix and a data folder of its own.

Run from the repository root, in a checkout of each side, alternating::

    python loadtests/start_bench.py --starts 3

Prints each start's wall time (``build_app`` until the server listens); the first start of a
process also pays for imports and is left out of the median.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rowgate.config import DEFAULT_CONFIG, load_settings
from tests.conftest import CHEAP_ARGON2, MIGRATED, REDIS_URL
from tests.databases import close_copier, new_database, prepare


async def starts(count: int, template: str) -> list[float]:
    from rowgate.proxy.app import build_app
    from rowgate.proxy.server import start

    times = []
    for i in range(count):
        async with new_database(template) as url:
            with tempfile.TemporaryDirectory() as tmp:
                overrides = {
                    **CHEAP_ARGON2,
                    "database.url": url,
                    "redis.url": REDIS_URL,
                    "redis.key_prefix": f"rgstart:{os.getpid()}:{i}:",
                    "data_dir": f"{tmp}/data",
                    "server.port": 0,
                    "logging.access_log": False,
                }
                settings = load_settings(DEFAULT_CONFIG, overrides=overrides, environ={})
                began = time.perf_counter()
                runner, _ = await start(build_app(settings), settings, host="127.0.0.1", port=0)
                times.append(time.perf_counter() - began)
                await runner.cleanup()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--starts", type=int, default=3)
    args = parser.parse_args()
    times = asyncio.run(starts(args.starts, prepare(MIGRATED)))
    close_copier()
    print("starts (ms):", " ".join(f"{t * 1000:.0f}" for t in times))
    if len(times) > 1:
        print(f"median after the first: {statistics.median(times[1:]) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
