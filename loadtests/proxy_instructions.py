"""Instructions per proxied request: rowgate under callgrind, a figure a busy machine cannot move.

CPU time per request (``proxy_bench.py``) moves with the machine's load: caches, frequency and
neighbours change it by 2x on shared vCPUs.  The number of instructions rowgate's process executes
per request does not (user space only: the kernel's share of each socket call is not counted).
This starts the demo upstream and rowgate under ``valgrind --tool=callgrind`` (Debian: ``apt-get
install valgrind``) with instrumentation switched on once it is ready, then for each scenario:
a warm-up, the counters zeroed, wrk for ``--duration`` seconds, the counters dumped.  The idle
process's own rate (timers, pool upkeep) is measured first and subtracted.

One connection by default: every request then goes through the event loop alone, so the count
does not depend on how many requests a loop turn happens to batch (which depends on how much CPU
the machine leaves the process).  Run it in a checkout of each version, side by side:

    python loadtests/proxy_instructions.py --duration 40
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness
from proxy_bench import write_config


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=40, help="seconds of load per scenario")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--upstream", choices=("nginx", "demo"), default="nginx", help="as proxy_bench.py's")
    args = parser.parse_args()
    harness.require_wrk()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as out, harness.scratch_database(harness.server_url()) as db:
        run(args, db, Path(out))


def run(args: argparse.Namespace, database_url: str, out: Path) -> None:
    environ = harness.bench_environ()
    app_port, port = harness.free_port(), harness.free_port()
    upstream = f"http://127.0.0.1:{app_port}"
    demo = harness.upstream_process(args.upstream, out / "upstream", app_port)
    valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}/cg.%p"]
    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp), port, upstream, database_url, True, None)
        with harness.running(config, port, environ, [demo], wrapper=valgrind, seconds=900) as pids:
            pid = pids.rowgate
            token = asyncio.run(
                harness.issue_token(
                    config, environ, sub=str(uuid.uuid4()), org_id=str(uuid.uuid4()), role="member"
                )
            )
            base = f"http://127.0.0.1:{port}"
            scenarios = {
                "jwt": (f"{base}/api/hello", {"Authorization": f"Bearer {token}"}),
                "proxied": (f"{base}/public/hello", {}),
            }
            _control(pid, "--instr=on")
            _control(pid, "--zero")
            started = time.monotonic()
            time.sleep(10)
            idle = _dump(pid, out, "idle") / (time.monotonic() - started)
            print(f"idle: {idle:,.0f} instructions/s", flush=True)
            for name, (url, headers) in scenarios.items():
                harness.wrk(url, 5, args.connections, headers)
                _control(pid, "--zero")
                started = time.monotonic()
                requests, rps, _ = harness.wrk(url, args.duration, args.connections, headers)
                total = _dump(pid, out, name)
                net = total - idle * (time.monotonic() - started)
                print(
                    f"{name:8} {requests} requests ({rps:.0f}/s): {total / requests:,.0f} instructions "
                    f"per request, {net / requests:,.0f} without the idle rate",
                    flush=True,
                )


def _control(pid: int, *options: str) -> None:
    subprocess.run(["callgrind_control", *options, str(pid)], capture_output=True, check=True)


def _dump(pid: int, out: Path, label: str) -> int:
    """Dump the counters; the instructions counted since they were last zeroed."""
    _control(pid, f"--dump={label}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for path in out.glob(f"cg.{pid}.*"):
            text = path.read_text()
            if f"desc: Trigger: dump {label}\n" in text:
                found = re.search(r"^summary: (\d+)", text, re.M)
                if found:
                    path.unlink()
                    return int(found.group(1))
        time.sleep(0.5)
    raise RuntimeError(f"callgrind wrote no dump for {label}")


if __name__ == "__main__":
    main()
