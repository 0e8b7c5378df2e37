"""Settings of the suspicious-activity alerts (``alerts:``): rules, thresholds, recipients, webhooks.

Each rule can be turned off and names who is told (``user``, ``admins`` of the organisation, or
both); every alert is also an audit event and a signed webhook to each of ``alerts.webhooks``.
The webhook secret comes from the environment only (``ROWGATE_ALERTS_WEBHOOK_SECRET``).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from rowgate.config.model import Model
from rowgate.config.units import Duration

Recipient = Literal["user", "admins"]


class AlertRule(Model):
    enabled: bool = True
    notify: tuple[Recipient, ...] = ("user",)


class TravelRule(AlertRule):
    """Two sign-ins farther apart than ``min_distance_km`` and faster than ``max_speed_kmh``."""

    notify: tuple[Recipient, ...] = ("user", "admins")
    max_speed_kmh: float = Field(900.0, gt=0)
    min_distance_km: float = Field(300.0, ge=0)


class BurstRule(AlertRule):
    """``failures`` failed sign-ins of one account within ``window``."""

    failures: int = Field(10, ge=1)
    window: Duration = timedelta(minutes=10)


class AlertSettings(Model):
    enabled: bool = True
    #: A MaxMind GeoLite2 / DB-IP city database (.mmdb); impossible travel is off without one.
    geoip_database: Path | None = None
    #: Membership roles that count as the organisation's admins for ``notify: [admins]``.
    admin_roles: tuple[str, ...] = ("admin",)
    poll_interval: Duration = timedelta(seconds=2)
    #: Events younger than this are left for the next round (a transaction still open may yet
    #: commit an event with a lower id).
    settle: Duration = timedelta(seconds=1)
    batch_size: int = Field(200, ge=1, le=5000)
    webhooks: tuple[str, ...] = ()
    webhook_timeout: Duration = timedelta(seconds=10)
    retry_schedule: tuple[Duration, ...] = (
        timedelta(seconds=10),
        timedelta(minutes=1),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=6),
    )
    impossible_travel: TravelRule = TravelRule()
    new_device: AlertRule = AlertRule()
    refresh_reuse: AlertRule = AlertRule(notify=("user", "admins"))
    failure_burst: BurstRule = BurstRule()
    lockout: AlertRule = AlertRule()
    api_key_network: AlertRule = AlertRule(notify=("admins",))
    #: How often each instance writes the networks it saw API keys used from (``apikey.network``).
    sightings_interval: Duration = timedelta(seconds=5)

    @field_validator("webhooks")
    @classmethod
    def _urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(
                    f"expected an http(s) URL like https://hooks.example.com/rowgate, got {url!r}"
                )
            if parts.username is not None or parts.password is not None:
                raise ValueError("a webhook URL must not hold credentials (the body is signed instead)")
        return value


def alert_problems(mode: str, alerts: AlertSettings) -> list[str]:
    """Checks of ``alerts`` keys; each problem as ``key.path: message``."""
    problems = []
    for key in ("poll_interval", "webhook_timeout", "sightings_interval"):
        if getattr(alerts, key) <= timedelta(0):
            problems.append(f"alerts.{key}: must be longer than zero")
    if alerts.settle < timedelta(0):
        problems.append("alerts.settle: must not be negative")
    if alerts.failure_burst.window <= timedelta(0):
        problems.append("alerts.failure_burst.window: must be longer than zero")
    for index, wait in enumerate(alerts.retry_schedule):
        if wait <= timedelta(0):
            problems.append(f"alerts.retry_schedule[{index}]: must be longer than zero")
    if mode == "production":
        for index, url in enumerate(alerts.webhooks):
            if urlsplit(url).scheme != "https":
                problems.append(f"alerts.webhooks[{index}]: must use https in production")
    return problems
