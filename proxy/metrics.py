"""``/metrics``: what operators expect, in the Prometheus text format, rendered by ``prometheus_client``.

Two registries make the page: the process-wide counters and histograms of ``auth.telemetry``
(requests, latency per route group, sign-ins, refreshes, revocations, alerts, rate-limit
rejections, RLS refusals, key rotations), then this app's own figures read when scraped (token
cache, pending revocations, rate-limit and slow-client counts).  Nothing is exported but
aggregates (no paths, no user ids), so the endpoint reveals nothing about individual callers.
Scrape it from inside your network; ``server.metrics: false`` turns it off.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from rowgate.auth.telemetry import REGISTRY
from rowgate.config.schema import Settings
from rowgate.proxy.appkeys import SERVICES
from rowgate.proxy.connections import CONNECTIONS
from rowgate.proxy.ratelimit import CALLER_LIMITS


@dataclass(frozen=True, slots=True)
class RouteGroups:
    """Names the group of a path (``auth``, ``data``, ``health``, ..., else ``upstream``) for the
    latency histogram: a handful of labels, whatever paths clients invent."""

    prefixes: tuple[tuple[str, str], ...]
    #: Every prefix: a path starting with none of them is the upstream's (most are).
    starts: tuple[str, ...]

    @classmethod
    def of(cls, settings: Settings) -> RouteGroups:
        mounts = settings.mounts
        pairs = (
            (mounts.auth, "auth"), (mounts.rbac, "rbac"), (mounts.data, "data"), (mounts.sql, "data"),
            ("/v1/admin", "admin"), ("/admin", "admin"), ("/.well-known", "well_known"),
            ("/healthz", "health"), ("/readyz", "health"), ("/metrics", "metrics"),
        )  # fmt: skip
        return cls(tuple(sorted(pairs, key=lambda pair: -len(pair[0]))), tuple(p for p, _ in pairs))

    def of_path(self, path: str) -> str:
        if not path.startswith(self.starts):
            return "upstream"
        for prefix, group in self.prefixes:
            if path == prefix or path.startswith(prefix + "/"):
                return group
        return "upstream"


METRICS = web.AppKey("metrics", RouteGroups)


class AppFigures(Collector):
    """This app's figures, read at scrape time (names kept from the first ``/metrics``)."""

    def __init__(self, app: web.Application) -> None:
        self._app = app

    def collect(self) -> Iterator[Metric]:
        services = self._app[SERVICES]
        cache = services.tokens.cache
        yield _gauge("rowgate_token_cache_hits", "Verified-token cache hits.", cache.hits)
        yield _gauge("rowgate_token_cache_misses", "Verified-token cache misses.", cache.misses)
        yield _gauge("rowgate_token_cache_size", "Verified tokens cached.", len(cache))
        pending = services.revocations.pending
        yield _gauge("rowgate_revocations_pending", "Revocations not yet shared (store down).", pending)
        limits = self._app.get(CALLER_LIMITS)
        if limits is not None:
            yield _gauge(
                "rowgate_rate_limit_refused", "Requests refused by the caller limits.", limits.refused
            )
            yield _gauge(
                "rowgate_rate_limit_unchecked", "Let through unchecked (store down).", limits.unchecked
            )
        guard = self._app.get(CONNECTIONS)
        if guard is not None:
            yield _counter("rowgate_client_disconnects", "Clients gone before the answer.", guard.disconnects)
            yield _counter("rowgate_header_timeouts", "Headers sent too slowly.", guard.header_timeouts)
            yield _counter("rowgate_slow_connections_refused", "Slow connections refused.", guard.refused)
            yield _gauge("rowgate_slow_connections", "Slow connections open.", sum(guard.slow.values()))


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


APP_REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(REGISTRY) + generate_latest(request.app[APP_REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def add_routes(app: web.Application, settings: Settings) -> None:
    app[METRICS] = RouteGroups.of(settings)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AppFigures(app))
    app[APP_REGISTRY] = registry
    app.router.add_get("/metrics", metrics)
