"""Prometheus counters and histograms for this process, in one registry (``REGISTRY``).

The functions below are the only way in: ``count_event`` (called for every audit event, so
sign-ins, refreshes, revocations and key rotations are counted where they are recorded),
``count_alert`` (a suspicious-activity rule fired), ``count_rate_limited``, ``count_refusal``
(the RLS engine refused a statement) and ``observe_request``.  Labels take only values from small
fixed sets (event names, outcomes, rule names, refusal codes, route groups): never a path, a
user or an organisation, so ``/metrics`` reveals nothing about individual callers.

Values are per process: with several worker processes each exposes its own, and Prometheus sums
them across scrape targets (``sum by (outcome) (rate(rowgate_signins_total[5m]))``).
"""

from __future__ import annotations

import functools
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics

# No ``*_created`` series: they double the output and nobody reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

#: Upper bounds (seconds) of the latency histogram buckets.
BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REGISTRY: Final = CollectorRegistry(auto_describe=True)

REQUESTS: Final = Counter(
    "rowgate_requests", "HTTP requests answered, by method and status class.", ["method", "status"],
    registry=REGISTRY,
)  # fmt: skip
DURATION: Final = Histogram(
    "rowgate_request_duration_seconds", "Time to answer a request, by route group.", ["group"],
    buckets=BUCKETS, registry=REGISTRY,
)  # fmt: skip
AUTH_EVENTS: Final = Counter(
    "rowgate_auth_events", "Audit events recorded, by event name.", ["event"], registry=REGISTRY
)
SIGNINS: Final = Counter(
    "rowgate_signins", "Sign-ins by outcome (succeeded, failed, locked).", ["outcome"], registry=REGISTRY
)
REFRESHES: Final = Counter(
    "rowgate_token_refreshes", "Refresh-token uses by outcome (rotated, retried, reused).", ["outcome"],
    registry=REGISTRY,
)  # fmt: skip
REVOCATIONS: Final = Counter(
    "rowgate_revocations", "Revocations by what was revoked (signout, session, api_key, ...).", ["what"],
    registry=REGISTRY,
)  # fmt: skip
KEY_ROTATIONS: Final = Counter(
    "rowgate_key_rotations", "Signing keys that started signing (key.rotated).", registry=REGISTRY
)
ALERTS: Final = Counter(
    "rowgate_alerts", "Suspicious-activity alerts raised, by rule.", ["rule"], registry=REGISTRY
)
RATE_LIMITED: Final = Counter(
    "rowgate_rate_limited", "Requests refused with 429, by route group.", ["group"], registry=REGISTRY
)
RLS_REFUSALS: Final = Counter(
    "rowgate_rls_refusals", "Statements the row-level security engine refused, by code.", ["code"],
    registry=REGISTRY,
)  # fmt: skip


def count_event(event: str) -> None:
    """Count one audit event, and the operator-facing counter it belongs to."""
    AUTH_EVENTS.labels(event).inc()
    kind, _, outcome = event.partition(".")
    if kind == "signin":
        SIGNINS.labels(outcome).inc()
    elif kind == "refresh":
        REFRESHES.labels(outcome or "rotated").inc()
    elif outcome == "revoked" or event == "signout":
        REVOCATIONS.labels(kind).inc()
    elif event == "key.rotated":
        KEY_ROTATIONS.inc()


def count_alert(rule: str) -> None:
    """Count an alert raised by ``rule`` (a rule name from the configuration, never user input)."""
    ALERTS.labels(rule).inc()


def count_rate_limited(group: str) -> None:
    RATE_LIMITED.labels(group).inc()


def count_refusal(code: str) -> None:
    RLS_REFUSALS.labels(code).inc()


#: Methods counted by name; any other a client invents is ``OTHER`` (labels stay a small set).
METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def observe_request(method: str, status: int, group: str, seconds: float) -> None:
    """Count one answered request and its latency (the labelled children are looked up once)."""
    _request_counter(method if method in METHODS else "OTHER", status // 100).inc()
    _latency(group).observe(seconds)


@functools.cache
def _request_counter(method: str, status_class: int) -> Counter:
    return REQUESTS.labels(method, f"{status_class}xx")


@functools.cache
def _latency(group: str) -> Histogram:
    return DURATION.labels(group)
