"""Opening the alerts at start-up: the GeoIP database, the webhook secret, the two background tasks."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from rowgate.auth.alerts.geo import GeoLocator
from rowgate.auth.alerts.networks import KeySightings
from rowgate.auth.alerts.signing import webhook_secret
from rowgate.auth.alerts.watcher import AlertWatcher
from rowgate.auth.alerts.webhooks import WebhookSender
from rowgate.auth.db import Database
from rowgate.auth.mail.outbox import Mailer
from rowgate.config.alerts import AlertSettings


@dataclass(frozen=True)
class Alerts:
    watcher: AlertWatcher
    webhooks: WebhookSender
    sightings: KeySightings


@contextlib.asynccontextmanager
async def open_alerts(
    settings: AlertSettings, db: Database, mailer: Mailer, *, run: bool = True
) -> AsyncIterator[Alerts]:
    """The watcher and webhook sender, running when ``run`` and ``alerts.enabled``.

    A missing webhook secret or an unreadable GeoIP file is a ConfigError naming the key."""
    on = settings.enabled
    secret = webhook_secret(settings.webhooks) if on else None
    geo = GeoLocator(settings.geoip_database) if on and settings.geoip_database else None
    sender = WebhookSender(db, settings, secret)
    watcher = AlertWatcher(db, settings, mailer, geo, on_alert=sender.wakeup.set)
    sightings = KeySightings(db, settings.sightings_interval.total_seconds())
    if run and on:
        watcher.start()
        sender.start()
        sightings.start()
    try:
        yield Alerts(watcher, sender, sightings)
    finally:
        await sightings.stop()
        await watcher.stop()
        await sender.stop()
        if geo is not None:
            geo.close()
