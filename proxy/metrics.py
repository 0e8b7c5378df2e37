"""``/metrics``: what operators expect, in the Prometheus text format, rendered by ``prometheus_client``.

Two registries make the page: the process-wide counters and histograms of ``auth.telemetry``
(requests, latency per route group, sign-ins, refreshes, revocations, alerts, rate-limit
rejections, RLS refusals, key rotations), then this app's own figures read when scraped (token
cache, pending revocations, rate-limit and slow-client counts).  Nothing is exported but
aggregates (no paths, no user ids), so the endpoint reveals nothing about individual callers.
Scrape it from inside your network; ``server.metrics: false`` turns it off.

With several workers a scrape reaches one of them, and must show every worker's figures: the
counters and histograms are then kept in the supervisor's directory (``auth.telemetry``), and
each worker writes its app figures there too (``SharedFigures``: every second, and before it
answers a scrape), as gauges summed over the live workers (what is open or cached now) or over
every worker that ever ran (what only grows), so that no figure goes backwards between scrapes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Literal

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from rowgate.auth import telemetry
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


class SharedFigures:
    """With workers: this worker's app figures, written where every worker's are summed.

    Gauges of what only grows (cache hits, refusals) add up every worker that ever ran, those of
    what is open now (cached tokens, slow connections) only the live ones (the supervisor drops a
    dead worker's); counts are counters, moved by what happened since the last write.
    """

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._gauges: dict[str, Gauge] = {}
        self._counters: dict[str, tuple[Counter, list[float]]] = {}

    def write(self) -> None:
        services = self._app[SERVICES]
        cache = services.tokens.cache
        self._gauge("rowgate_token_cache_hits", "Verified-token cache hits.", "sum", cache.hits)
        self._gauge("rowgate_token_cache_misses", "Verified-token cache misses.", "sum", cache.misses)
        self._gauge("rowgate_token_cache_size", "Verified tokens cached.", "livesum", len(cache))
        pending = services.revocations.pending
        self._gauge(
            "rowgate_revocations_pending", "Revocations not yet shared (store down).", "livesum", pending
        )
        limits = self._app.get(CALLER_LIMITS)
        if limits is not None:
            refused, unchecked = limits.refused, limits.unchecked
            self._gauge(
                "rowgate_rate_limit_refused", "Requests refused by the caller limits.", "sum", refused
            )
            self._gauge(
                "rowgate_rate_limit_unchecked", "Let through unchecked (store down).", "sum", unchecked
            )
        guard = self._app.get(CONNECTIONS)
        if guard is not None:
            self._count("rowgate_client_disconnects", "Clients gone before the answer.", guard.disconnects)
            self._count("rowgate_header_timeouts", "Headers sent too slowly.", guard.header_timeouts)
            self._count("rowgate_slow_connections_refused", "Slow connections refused.", guard.refused)
            slow = sum(guard.slow.values())
            self._gauge("rowgate_slow_connections", "Slow connections open.", "livesum", slow)

    def _gauge(self, name: str, documentation: str, mode: Literal["sum", "livesum"], value: float) -> None:
        gauge = self._gauges.get(name)
        if gauge is None:
            gauge = self._gauges[name] = Gauge(name, documentation, multiprocess_mode=mode, registry=None)
        gauge.set(value)

    def _count(self, name: str, documentation: str, value: float) -> None:
        if name not in self._counters:
            self._counters[name] = Counter(name, documentation, registry=None), [0.0]
        counter, written = self._counters[name]
        if value > written[0]:
            counter.inc(value - written[0])
            written[0] = value


#: How often a worker writes its app figures for the others' scrapes (seconds).
WRITE_EVERY = 1.0

APP_REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)
SHARED_FIGURES = web.AppKey("metrics_shared_figures", SharedFigures)


async def metrics(request: web.Request) -> web.Response:
    shared = request.app.get(SHARED_FIGURES)
    if shared is not None:
        shared.write()  # this worker's own figures as of now; the others' at most WRITE_EVERY old
        return web.Response(
            body=generate_latest(telemetry.scraped()), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )
    body = generate_latest(telemetry.scraped()) + generate_latest(request.app[APP_REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _write_figures(app: web.Application) -> AsyncIterator[None]:
    """Write this worker's app figures every ``WRITE_EVERY`` seconds, and once more at the end."""
    shared = app[SHARED_FIGURES]

    async def loop() -> None:
        while True:
            await asyncio.sleep(WRITE_EVERY)
            shared.write()

    task = asyncio.create_task(loop())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    shared.write()


def add_routes(app: web.Application, settings: Settings) -> None:
    app[METRICS] = RouteGroups.of(settings)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(AppFigures(app))
    app[APP_REGISTRY] = registry
    if telemetry.shared_directory() is not None:
        app[SHARED_FIGURES] = SharedFigures(app)
        app.cleanup_ctx.append(_write_figures)
    app.router.add_get("/metrics", metrics)
