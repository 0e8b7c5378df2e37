"""Prometheus counters and histograms, in one registry per process (``REGISTRY``).

The functions below are the only way in: ``count_event`` (called for every audit event, so
sign-ins, refreshes, revocations and key rotations are counted where they are recorded),
``count_alert`` (a suspicious-activity rule fired), ``count_rate_limited``,
``count_hashing_refused`` (a password check answered 503 ``busy``), ``count_refusal``
(the RLS engine refused a statement) and ``observe_request``.  Labels take only values from small
fixed sets (event names, outcomes, rule names, refusal codes, route groups): never a path, a
user or an organisation, so ``/metrics`` reveals nothing about individual callers.

One process keeps its values in memory.  Worker processes (``rowgate serve --workers N``) share
them instead: each worker calls ``share_between_processes`` right after the fork, and from then on
every value lives in a file of its own in the supervisor's directory (``prometheus_client``'s
multiprocess mode); ``scraped()`` then sums every worker's files and those of workers that died
(compacted into one file by the supervisor: ``auth.metrics_files``), so a counter never goes
backwards when a worker is replaced, and whichever worker answers a scrape shows the whole
server's figures.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, values

from rowgate.auth.metrics_files import SharedCollector

# No ``*_created`` series: they double the output and nobody reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

#: Upper bounds (seconds) of the latency histogram buckets.
BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

#: Where ``prometheus_client`` keeps the values of processes that share them.
DIRECTORY_VARIABLE: Final = "PROMETHEUS_MULTIPROC_DIR"

REGISTRY: Final = CollectorRegistry(auto_describe=True)


class Metrics:
    """The counters and histograms, registered in ``registry`` (none when shared: the files are read)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.requests = Counter(
            "rowgate_requests", "HTTP requests answered, by method and status class.", ["method", "status"],
            registry=registry,
        )  # fmt: skip
        self.duration = Histogram(
            "rowgate_request_duration_seconds", "Time to answer a request, by route group.", ["group"],
            buckets=BUCKETS, registry=registry,
        )  # fmt: skip
        self.auth_events = Counter(
            "rowgate_auth_events", "Audit events recorded, by event name.", ["event"], registry=registry
        )
        self.signins = Counter(
            "rowgate_signins", "Sign-ins by outcome (succeeded, failed, locked).", ["outcome"],
            registry=registry,
        )  # fmt: skip
        self.refreshes = Counter(
            "rowgate_token_refreshes", "Refresh-token uses by outcome (rotated, retried, reused).",
            ["outcome"], registry=registry,
        )  # fmt: skip
        self.revocations = Counter(
            "rowgate_revocations", "Revocations by what was revoked (signout, session, api_key, ...).",
            ["what"], registry=registry,
        )  # fmt: skip
        self.key_rotations = Counter(
            "rowgate_key_rotations", "Signing keys that started signing (key.rotated).", registry=registry
        )
        self.alerts = Counter(
            "rowgate_alerts", "Suspicious-activity alerts raised, by rule.", ["rule"], registry=registry
        )
        self.rate_limited = Counter(
            "rowgate_rate_limited", "Requests refused with 429, by route group.", ["group"],
            registry=registry,
        )  # fmt: skip
        self.hashing_refused = Counter(
            "rowgate_password_hashing_refused",
            "Password checks refused with 503 busy (argon2 backlog beyond auth.argon2.max_wait), by flow.",
            ["flow"], registry=registry,
        )  # fmt: skip
        self.rls_refusals = Counter(
            "rowgate_rls_refusals", "Statements the row-level security engine refused, by code.", ["code"],
            registry=registry,
        )  # fmt: skip


_metrics = Metrics(REGISTRY)
_scraped = REGISTRY
_shared: Path | None = None


def share_between_processes(directory: Path, name: str) -> None:
    """Keep this process's values in ``directory``, in files named after ``name`` (the worker's,
    ``metrics_files.worker_name``), where every worker's are read and summed.

    Called in a worker right after the fork, before it counts anything: the metrics are built
    again on ``prometheus_client``'s file-backed values (the in-memory ones inherited from the
    supervisor are dropped), and ``scraped()`` becomes a registry that reads the whole directory.
    """
    global _metrics, _scraped, _shared, _identity
    os.environ[DIRECTORY_VARIABLE] = str(directory)  # read by prometheus_client as it opens its files
    _identity = name
    values.ValueClass = values.MultiProcessValue(process_identifier=_this_process)  # type: ignore[no-untyped-call]
    for collector in vars(_metrics).values():
        REGISTRY.unregister(collector)
    _request_counter.cache_clear()
    _latency.cache_clear()
    _metrics = Metrics(registry=None)
    _scraped = CollectorRegistry(auto_describe=False)
    _scraped.register(SharedCollector(directory))
    _shared = directory


def shared_directory() -> Path | None:
    """The directory the values are shared through, or ``None`` in a process on its own."""
    return _shared


def scraped() -> CollectorRegistry:
    """The registry ``/metrics`` renders: this process's metrics, or every worker's summed."""
    return _scraped


_identity = str(os.getpid())


def _this_process() -> str:
    """The name of this process's files: its worker name, else ``os.getpid()`` remembered (a
    system call costs more than the counting it would guard).  A process forked from a worker
    takes its own pid, and so files of its own."""
    return _identity


def _forked() -> None:
    global _identity
    _identity = str(os.getpid())


os.register_at_fork(after_in_child=_forked)


def count_event(event: str) -> None:
    """Count one audit event, and the operator-facing counter it belongs to."""
    metrics = _metrics
    metrics.auth_events.labels(event).inc()
    kind, _, outcome = event.partition(".")
    if kind == "signin":
        metrics.signins.labels(outcome).inc()
    elif kind == "refresh":
        metrics.refreshes.labels(outcome or "rotated").inc()
    elif outcome == "revoked" or event == "signout":
        metrics.revocations.labels(kind).inc()
    elif event == "key.rotated":
        metrics.key_rotations.inc()


def count_alert(rule: str) -> None:
    """Count an alert raised by ``rule`` (a rule name from the configuration, never user input)."""
    _metrics.alerts.labels(rule).inc()


def count_rate_limited(group: str) -> None:
    _metrics.rate_limited.labels(group).inc()


def count_hashing_refused(flow: str) -> None:
    """Count a password check refused before it queued (``flow``: a fixed name such as ``signin``)."""
    _metrics.hashing_refused.labels(flow).inc()


def count_refusal(code: str) -> None:
    _metrics.rls_refusals.labels(code).inc()


#: Methods counted by name; any other a client invents is ``OTHER`` (labels stay a small set).
METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def observe_request(method: str, status: int, group: str, seconds: float) -> None:
    """Count one answered request and its latency (the labelled children are looked up once)."""
    _request_counter(method if method in METHODS else "OTHER", status // 100).inc()
    _latency(group).observe(seconds)


@functools.cache
def _request_counter(method: str, status_class: int) -> Counter:
    return _metrics.requests.labels(method, f"{status_class}xx")


@functools.cache
def _latency(group: str) -> Histogram:
    return _metrics.duration.labels(group)
