"""Per-request cost of the metrics: ``prometheus_client`` beside the former hand-written counters.

    python loadtests/metrics_bench.py [--requests 200000]

Each request counts one answer by method and status class and observes its latency in the
13-bucket histogram: the former code (a ``Counter`` update and a ``bisect`` into a bucket list,
copied here as it was) against ``auth.telemetry.observe_request`` (a labelled counter and a
labelled histogram).  It also times one scrape of each with the same traffic recorded.

Then the same with the values shared between worker processes (``rowgate serve --workers N``:
``telemetry.share_between_processes``, every value in a memory-mapped file): each round forks a
child that switches to a temporary directory and measures there, alternating with the parent's
single-process measurement, once with the process id remembered (as rowgate does) and once
asking the kernel for it on every update (``prometheus_client``'s default).  Figures are recorded
in ``loadtests/RESULTS.md``.

    python loadtests/metrics_bench.py --dead-workers 300

times instead one scrape of a directory where that many workers counted traffic and died, with
their files left as they were (before compaction) and compacted into ``dead.json``
(``auth.metrics_files.compact``, as the supervisor does).
"""

from __future__ import annotations

import argparse
import bisect
import os
import random
import struct
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from rowgate.auth import telemetry
from rowgate.auth.metrics_files import SharedCollector, compact, worker_name
from rowgate.auth.telemetry import BUCKETS, REGISTRY, observe_request


class FormerMetrics:
    """The hand-written counters ``proxy/metrics.py`` had before ``prometheus_client``."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str]] = Counter()
        self.buckets = [0] * (len(BUCKETS) + 1)
        self.duration_sum = 0.0

    def observe(self, method: str, status: int, seconds: float) -> None:
        self.requests[(method, f"{status // 100}xx")] += 1
        self.buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.duration_sum += seconds

    def render(self) -> str:
        lines = [
            f'rowgate_requests_total{{method="{m}",status="{s}"}} {n}' for (m, s), n in self.requests.items()
        ]
        cumulative = 0
        for bound, count in zip((*BUCKETS, float("inf")), self.buckets, strict=True):
            cumulative += count
            lines.append(f'rowgate_request_duration_seconds_bucket{{le="{bound:g}"}} {cumulative}')
        return "\n".join(lines) + "\n"


Traffic = list[tuple[str, int, str, float]]


def traffic(n: int) -> Traffic:
    rng = random.Random(7)
    methods, statuses = ("GET", "GET", "GET", "POST", "DELETE"), (200, 200, 200, 201, 401, 404, 429)
    groups = ("upstream", "upstream", "auth", "data", "health")
    return [
        (rng.choice(methods), rng.choice(statuses), rng.choice(groups), rng.expovariate(200))
        for _ in range(n)
    ]


def per_request(observe: Callable[[str, int, str, float], None], requests: Traffic) -> float:
    started = time.perf_counter()
    for method, status, group, seconds in requests:
        observe(method, status, group, seconds)
    return (time.perf_counter() - started) / len(requests)


def best(runs: int, measure: Callable[[], float]) -> float:
    return min(measure() for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dead-workers", type=int, default=0)
    args = parser.parse_args()
    requests = traffic(args.requests)
    if args.dead_workers:
        dead_workers(args.dead_workers, requests[:1000])
        return
    former = FormerMetrics()
    old = best(5, lambda: per_request(lambda m, s, g, d: former.observe(m, s, d), requests))
    new = best(5, lambda: per_request(observe_request, requests))
    old_scrape = best(20, lambda: _timed(former.render))
    new_scrape = best(20, lambda: _timed(lambda: generate_latest(REGISTRY)))
    print(f"per request: former {old * 1e6:.2f} us, prometheus_client {new * 1e6:.2f} us")
    print(f"one scrape:  former {old_scrape * 1e3:.3f} ms, prometheus_client {new_scrape * 1e3:.3f} ms")
    single, shared, shared_getpid, shared_scrape = [], [], [], []
    for _ in range(args.rounds):
        single.append(per_request(observe_request, requests))
        each, scrape = in_a_worker(requests, remember_pid=True)
        shared.append(each)
        shared_scrape.append(scrape)
        shared_getpid.append(in_a_worker(requests, remember_pid=False)[0])
    print(
        f"alternated, {args.rounds} rounds, best (median): single process {_us(single)}, "
        f"shared between workers {_us(shared)}, the same with os.getpid per update {_us(shared_getpid)}"
    )
    ratios = sorted(b / a for a, b in zip(single, shared, strict=True))
    getpid = sorted(b / a for a, b in zip(shared, shared_getpid, strict=True))
    print(
        f"ratios in each round, median (range): shared / single {ratios[len(ratios) // 2]:.2f} "
        f"({ratios[0]:.2f}-{ratios[-1]:.2f}); os.getpid / remembered {getpid[len(getpid) // 2]:.2f} "
        f"({getpid[0]:.2f}-{getpid[-1]:.2f})"
    )
    print(f"one scrape of the shared files (one worker's): {min(shared_scrape) * 1e3:.3f} ms")


def dead_workers(count: int, requests: Traffic) -> None:
    """One scrape of ``count`` dead workers' files, left as they were and then compacted."""
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        names = [worker_name(0, start) for start in range(1, count + 1)]
        for name in names:
            child = os.fork()
            if child == 0:
                code = 1
                try:
                    telemetry.share_between_processes(directory, name)
                    per_request(observe_request, requests)
                    code = 0
                finally:
                    os._exit(code)
            os.waitpid(child, 0)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(SharedCollector(directory))
        files = len(list(directory.iterdir()))
        left = best(5, lambda: _timed(lambda: generate_latest(registry)))
        before = generate_latest(registry)
        for name in names:
            compact(directory, name)
        compacted = best(5, lambda: _timed(lambda: generate_latest(registry)))
        after = generate_latest(registry)  # the same lines, the families perhaps in another order
        assert sorted(after.splitlines()) == sorted(before.splitlines()), "compaction changed the figures"
        print(
            f"one scrape, {count} dead workers: {files} files left {left * 1e3:.2f} ms, "
            f"compacted into {len(list(directory.iterdir()))} {compacted * 1e3:.2f} ms"
        )


def in_a_worker(requests: Traffic, remember_pid: bool) -> tuple[float, float]:
    """In a forked child sharing its values through a temporary directory: the time per request
    and the time of one scrape."""
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        code = 1
        try:
            os.close(read)
            with tempfile.TemporaryDirectory() as folder:
                if not remember_pid:
                    setattr(telemetry, "_this_process", os.getpid)  # noqa: B010 (prometheus_client's default)
                telemetry.share_between_processes(Path(folder), "0-1")
                each = per_request(observe_request, requests)
                scrape = best(20, lambda: _timed(lambda: generate_latest(telemetry.scraped())))
                os.write(write, struct.pack("dd", each, scrape))
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    data = os.read(read, 16)
    os.close(read)
    os.waitpid(child, 0)
    each, scrape = struct.unpack("dd", data)
    return each, scrape


def _us(figures: list[float]) -> str:
    ordered = sorted(figures)
    return f"{ordered[0] * 1e6:.2f} us ({ordered[len(ordered) // 2] * 1e6:.2f})"


def _timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
