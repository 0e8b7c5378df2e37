"""Instructions per uncached rewrite (a cache miss): a figure a busy machine cannot move.

CPU time per miss (``bench_rewrite.py``) moves with the machine's load; the number of
instructions the process executes per miss does not.  This runs ``bench_rewrite.py``'s
three-table join with a CTE ``--misses`` times under ``valgrind --tool=callgrind`` (Debian:
``apt-get install valgrind``), and once more with no miss after the same start-up, and prints the
difference per miss (the collector's share included).  ``--checkout`` measures another checkout
of rowgate (say one of ``bd4be46^``) with this interpreter, side by side:

    python loadtests/rewrite_instructions.py --misses 600
    python loadtests/rewrite_instructions.py --misses 600 --checkout ../rowgate-before
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

#: Run in the checkout measured: its own ``rowgate`` and ``loadtests.bench_rewrite``.
MISSES = """
import sys
from loadtests.bench_rewrite import QUERY, SUBJECT, rewriter
uncached = rewriter(cache_size=0)
uncached.rewrite(QUERY, SUBJECT, 1)
for _ in range(int(sys.argv[1])):
    uncached.rewrite(QUERY, SUBJECT, 1)
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--misses", type=int, default=600, help="misses counted (the collector's turns average out)"
    )
    parser.add_argument("--checkout", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    idle, busy = (instructions(args.checkout.resolve(), n) for n in (0, args.misses))
    print(f"{args.checkout}: {(busy - idle) / args.misses:,.0f} instructions per miss")


def instructions(checkout: Path, misses: int) -> int:
    """Instructions of a process that starts, rewrites once, then makes ``misses`` more misses."""
    with tempfile.TemporaryDirectory() as out:
        profile = Path(out) / "callgrind.out"
        # the same hash seed for both runs: string hashing decides dictionary layouts
        environ = {**os.environ, "PYTHONPATH": str(checkout), "PYTHONHASHSEED": "0"}
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={profile}",
                sys.executable,
                "-c",
                MISSES,
                str(misses),
            ],
            cwd=checkout,
            env=environ,
            check=True,
            capture_output=True,
        )
        found = re.search(r"^(?:summary|totals): (\d+)", profile.read_text(), re.MULTILINE)
        if found is None:
            sys.exit("callgrind wrote no total")
        return int(found.group(1))


if __name__ == "__main__":
    main()
