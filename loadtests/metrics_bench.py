"""Per-request cost of the metrics: ``prometheus_client`` beside the former hand-written counters.

    python loadtests/metrics_bench.py [--requests 200000]

Each request counts one answer by method and status class and observes its latency in the
13-bucket histogram: the former code (a ``Counter`` update and a ``bisect`` into a bucket list,
copied here as it was) against ``auth.telemetry.observe_request`` (a labelled counter and a
labelled histogram).  It also times one scrape of each with the same traffic recorded.  Figures
are recorded in ``loadtests/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import bisect
import random
import time
from collections import Counter
from collections.abc import Callable

from prometheus_client import generate_latest

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
    args = parser.parse_args()
    requests = traffic(args.requests)
    former = FormerMetrics()
    old = best(5, lambda: per_request(lambda m, s, g, d: former.observe(m, s, d), requests))
    new = best(5, lambda: per_request(observe_request, requests))
    old_scrape = best(20, lambda: _timed(former.render))
    new_scrape = best(20, lambda: _timed(lambda: generate_latest(REGISTRY)))
    print(f"per request: former {old * 1e6:.2f} us, prometheus_client {new * 1e6:.2f} us")
    print(f"one scrape:  former {old_scrape * 1e3:.3f} ms, prometheus_client {new_scrape * 1e3:.3f} ms")


def _timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
