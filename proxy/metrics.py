"""``/metrics``: request counts and latencies in the Prometheus text format.

Counting costs a dictionary update per request; nothing is exported but aggregates (no paths, no
user ids), so the endpoint reveals nothing about individual callers.  Scrape it from inside your
network; ``server.metrics: false`` turns it off.
"""

from __future__ import annotations

import bisect
from collections import Counter

from aiohttp import web

from rowgate.proxy.appkeys import SERVICES
from rowgate.proxy.connections import CONNECTIONS
from rowgate.proxy.ratelimit import CALLER_LIMITS

#: Upper bounds (seconds) of the latency histogram buckets.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Requests by method and status class, and a latency histogram."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str]] = Counter()
        self.buckets = [0] * (len(BUCKETS) + 1)
        self.duration_sum = 0.0

    def observe(self, method: str, status: int, seconds: float) -> None:
        self.requests[(method, f"{status // 100}xx")] += 1
        self.buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.duration_sum += seconds

    def render(self, extra: dict[str, float]) -> str:
        lines = [
            "# HELP rowgate_requests_total HTTP requests answered, by method and status class.",
            "# TYPE rowgate_requests_total counter",
        ]
        for (method, status), count in sorted(self.requests.items()):
            lines.append(f'rowgate_requests_total{{method="{method}",status="{status}"}} {count}')
        lines += [
            "# HELP rowgate_request_duration_seconds Time to answer a request.",
            "# TYPE rowgate_request_duration_seconds histogram",
        ]
        cumulative = 0
        for bound, count in zip((*BUCKETS, float("inf")), self.buckets, strict=True):
            cumulative += count
            label = "+Inf" if bound == float("inf") else f"{bound:g}"
            lines.append(f'rowgate_request_duration_seconds_bucket{{le="{label}"}} {cumulative}')
        lines.append(f"rowgate_request_duration_seconds_sum {self.duration_sum:.6f}")
        lines.append(f"rowgate_request_duration_seconds_count {cumulative}")
        for name, value in sorted(extra.items()):
            kind = "counter" if name.endswith("_total") else "gauge"
            lines += [f"# TYPE {name} {kind}", f"{name} {value:g}"]
        return "\n".join(lines) + "\n"


METRICS = web.AppKey("metrics", Metrics)


async def metrics(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    tokens = services.tokens
    extra = {
        "rowgate_token_cache_hits": float(tokens.cache.hits),
        "rowgate_token_cache_misses": float(tokens.cache.misses),
        "rowgate_token_cache_size": float(len(tokens.cache)),
        # Revocations enforced here but not yet shared through the store (it was unreachable).
        "rowgate_revocations_pending": float(services.revocations.pending),
        "rowgate_alerts_total": float(services.alerts.watcher.raised),
    }
    limits = request.app.get(CALLER_LIMITS)
    if limits is not None:
        extra["rowgate_rate_limit_refused"] = float(limits.refused)
        # Requests let through without a check because the shared store was unreachable.
        extra["rowgate_rate_limit_unchecked"] = float(limits.unchecked)
    guard = request.app.get(CONNECTIONS)
    if guard is not None:
        extra |= {
            "rowgate_client_disconnects_total": float(guard.disconnects),
            "rowgate_header_timeouts_total": float(guard.header_timeouts),
            "rowgate_slow_connections_refused_total": float(guard.refused),
            "rowgate_slow_connections": float(sum(guard.slow.values())),
        }
    return web.Response(text=request.app[METRICS].render(extra), content_type="text/plain", charset="utf-8")


def add_routes(app: web.Application) -> None:
    app[METRICS] = Metrics()
    app.router.add_get("/metrics", metrics)
