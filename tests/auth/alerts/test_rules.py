"""Each rule fires when it should and not when it should not: events written to a real audit trail,
judged by the watcher, alerts read back as audit events, mail in the outbox and webhooks queued."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from rowgate.auth.alerts.geo import GeoLocator
from rowgate.auth.alerts.watcher import AlertWatcher
from rowgate.auth.db import Database
from rowgate.auth.mail.outbox import Mailer
from rowgate.config.alerts import AlertSettings
from rowgate.config.identity import MailSettings
from rowgate.config.schema import DatabaseSettings
from tests.auth.alerts.alertkit import (
    LONDON,
    LONDON_2,
    PARIS,
    SYDNEY,
    add_org,
    add_user,
    event,
    signin,
    write_geoip,
)

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC)


@pytest.fixture
async def db(migrated_database: str) -> AsyncIterator[Database]:
    database = await Database.connect(migrated_database, DatabaseSettings())
    yield database
    await database.close()


@pytest.fixture
def geoip(tmp_path: Path) -> Path:
    return write_geoip(tmp_path / "city.mmdb")


async def judge(db: Database, geoip: Path | None, **settings: Any) -> list[tuple[str, dict[str, Any]]]:
    """Run the watcher over everything written so far; the alerts raised, as (event, details)."""
    alerts = AlertSettings.model_validate({"webhooks": ["https://hooks.example.com/a"], **settings})
    geo = GeoLocator(geoip) if geoip else None
    watcher = AlertWatcher(db, alerts, Mailer(MailSettings()), geo)
    while await watcher.run_once(settle=timedelta(0)):
        pass
    rows = await db.fetch(
        "SELECT event, details FROM rowgate.audit_events WHERE event LIKE 'alert.%' ORDER BY id"
    )
    return [(row["event"], json.loads(row["details"])) for row in rows]


async def test_a_sign_in_too_far_too_fast_is_impossible_travel(db: Database, geoip: Path) -> None:
    org = await add_org(db, "Acme")
    user = await add_user(db, "ann@example.com", org, "member")
    await add_user(db, "boss@example.com", org, "admin")
    await event(db, "signin.succeeded", user, LONDON, at=NOW - timedelta(hours=2), details=signin())
    await event(db, "signin.succeeded", user, SYDNEY, at=NOW, org_id=org, details=signin())
    (travel,) = [details for name, details in await judge(db, geoip) if name == "alert.impossible_travel"]
    assert (travel["from"], travel["to"], travel["previousIp"]) == ("GB", "AU", LONDON)
    assert 16_000 < travel["distanceKm"] < 17_500
    assert travel["speedKmh"] > 8000
    recipients = await db.fetch("SELECT recipient, template FROM rowgate.mail_outbox ORDER BY recipient")
    assert {(r["recipient"], r["template"]) for r in recipients} >= {
        ("ann@example.com", "security_alert"),
        ("boss@example.com", "security_alert"),
    }
    bodies = [json.loads(r["body"]) for r in await db.fetch("SELECT body FROM rowgate.webhook_outbox")]
    assert {b["type"] for b in bodies} == {"alert.impossible_travel", "alert.new_device"}


async def test_a_journey_at_airliner_speed_or_a_short_hop_is_no_alert(db: Database, geoip: Path) -> None:
    user = await add_user(db, "ann@example.com")
    await event(db, "signin.succeeded", user, LONDON, at=NOW - timedelta(hours=30), details=signin())
    await event(
        db, "signin.succeeded", user, SYDNEY, at=NOW - timedelta(hours=5), details=signin()
    )  # 30 h later
    await event(db, "signin.succeeded", user, SYDNEY, at=NOW, details=signin())
    names = [name for name, _ in await judge(db, geoip)]
    assert "alert.impossible_travel" not in names
    user2 = await add_user(db, "bob@example.com")
    await event(db, "signin.succeeded", user2, LONDON, at=NOW - timedelta(minutes=30), details=signin())
    await event(db, "signin.succeeded", user2, PARIS, at=NOW, details=signin())  # 340 km in 30 min
    assert "alert.impossible_travel" not in [
        name for name, _ in await judge(db, geoip, **{"impossible_travel": {"min_distance_km": 500}})
    ]


async def test_impossible_travel_is_off_without_a_geoip_database(db: Database) -> None:
    user = await add_user(db, "ann@example.com")
    await event(db, "signin.succeeded", user, LONDON, at=NOW - timedelta(minutes=5), details=signin())
    await event(db, "signin.succeeded", user, SYDNEY, at=NOW, details=signin())
    assert [name for name, _ in await judge(db, None)] == ["alert.new_device"]


async def test_a_new_device_or_address_is_told_but_not_the_first_or_a_known_one(db: Database) -> None:
    user = await add_user(db, "ann@example.com")
    await event(db, "signin.succeeded", user, LONDON, details=signin())  # the first: nothing to compare
    await event(db, "signin.succeeded", user, LONDON, details=signin())  # known
    await event(db, "signin.succeeded", user, LONDON_2, details=signin())  # new address
    await event(db, "signin.succeeded", user, LONDON, details=signin("Safari on iOS"))  # new device
    await event(db, "signin.succeeded", user, LONDON_2, details=signin("Safari on iOS"))  # both known now
    alerts = await judge(db, None)
    assert [(name, d["newIp"], d["newDevice"]) for name, d in alerts] == [
        ("alert.new_device", True, False),
        ("alert.new_device", False, True),
    ]
    assert (
        await db.fetchval("SELECT count(*) FROM rowgate.mail_outbox WHERE recipient = 'ann@example.com'") == 2
    )


async def test_refresh_token_reuse_becomes_an_alert_to_the_user_and_the_admins(db: Database) -> None:
    org = await add_org(db, "Acme")
    user = await add_user(db, "ann@example.com", org)
    await add_user(db, "boss@example.com", org, "admin")
    other = await add_org(db, "Other")
    await add_user(db, "stranger@example.com", other, "admin")
    await event(db, "refresh.reused", user, LONDON, org_id=org)
    assert [name for name, _ in await judge(db, None)] == ["alert.refresh_reuse"]
    recipients = {r["recipient"] for r in await db.fetch("SELECT recipient FROM rowgate.mail_outbox")}
    assert recipients == {"ann@example.com", "boss@example.com"}  # never another organisation's admins


async def test_a_burst_of_failures_alerts_once_and_a_few_failures_not_at_all(db: Database) -> None:
    ann, bob = await add_user(db, "ann@example.com"), await add_user(db, "bob@example.com")
    for _ in range(3):
        await event(db, "signin.failed", bob, LONDON, details={"reason": "wrong_password"})
    for _ in range(7):
        await event(db, "signin.failed", ann, SYDNEY, details={"reason": "wrong_password"})
    await event(
        db, "signin.failed", ann, SYDNEY, at=NOW - timedelta(hours=1), details={"reason": "wrong_password"}
    )
    settings = {"failure_burst": {"failures": 5, "window": "10m"}}
    alerts = await judge(db, None, **settings)
    assert alerts == [
        ("alert.failure_burst", {"failures": 5, "windowSeconds": 600, "eventId": alerts[0][1]["eventId"]})
    ]
    assert (
        await db.fetchval(
            "SELECT user_id::text FROM rowgate.audit_events WHERE event = 'alert.failure_burst'"
        )
        == ann
    )


async def test_a_lockout_alerts_and_a_rule_turned_off_does_not(db: Database) -> None:
    user = await add_user(db, "ann@example.com")
    details = {"scope": "account", "seconds": 60, "failures": 5}
    await event(db, "signin.locked", user, LONDON, details=details)
    assert await judge(db, None, lockout={"enabled": False}) == []
    await event(db, "signin.locked", user, LONDON, details=details)
    ((name, got),) = await judge(db, None)
    assert name == "alert.lockout"
    assert (got["scope"], got["seconds"], got["failures"]) == ("account", 60, 5)


async def test_each_event_is_judged_once_by_one_of_two_watchers(db: Database) -> None:
    import asyncio

    user = await add_user(db, "ann@example.com")
    await event(db, "refresh.reused", user, LONDON)
    settings = AlertSettings()
    watchers = [AlertWatcher(db, settings, Mailer(MailSettings()), None) for _ in range(2)]
    await asyncio.gather(*(w.run_once(settle=timedelta(0)) for w in watchers))
    await asyncio.gather(*(w.run_once(settle=timedelta(0)) for w in watchers))
    assert (
        await db.fetchval("SELECT count(*) FROM rowgate.audit_events WHERE event = 'alert.refresh_reuse'")
        == 1
    )


async def test_an_api_key_used_from_a_new_network_alerts_the_admins(db: Database) -> None:
    from rowgate.auth.alerts.networks import KeySightings, network_of

    org = await add_org(db, "Acme")
    await add_user(db, "boss@example.com", org, "admin")
    key = "0b9c7f4e-8f64-4c1e-9d51-3f1f3a0c2b11"
    first, again = KeySightings(db, 60), KeySightings(db, 60)  # two instances
    first.saw(key, org, LONDON)  # the first network: the baseline
    first.saw(key, org, LONDON_2)  # the same /24: nothing new
    assert await first.flush() == 1
    again.saw(key, org, LONDON)  # another instance's first sighting of a known pair
    again.saw(key, org, "2001:db8:1:2::5")
    again.saw(key, org, "2001:db8:1:3::5")  # the same /48
    assert await again.flush() == 2
    alerts = await judge(db, None)
    assert [(name, d["network"]) for name, d in alerts] == [("alert.api_key_network", "2001:db8:1::/48")]
    assert {r["recipient"] for r in await db.fetch("SELECT recipient FROM rowgate.mail_outbox")} == {
        "boss@example.com"
    }
    assert (network_of("81.2.69.160"), network_of("not an ip")) == ("81.2.69.0/24", None)


async def test_events_younger_than_settle_wait_for_a_later_round(db: Database) -> None:
    user = await add_user(db, "ann@example.com")
    await event(db, "refresh.reused", user, LONDON, at=NOW - timedelta(hours=2))
    await event(db, "refresh.reused", user, LONDON)  # just now
    await event(db, "refresh.reused", user, LONDON, at=NOW - timedelta(hours=2))  # a long transaction's
    watcher = AlertWatcher(db, AlertSettings(), Mailer(MailSettings()), None)
    assert await watcher.run_once(settle=timedelta(hours=1)) == 1  # stops at the young one, in id order
    assert await db.fetchval("SELECT count(*) FROM rowgate.audit_events WHERE event LIKE 'alert.%'") == 1
    assert await watcher.run_once(settle=timedelta(0)) == 3  # the rest, and the first alert's own event
    assert await db.fetchval("SELECT count(*) FROM rowgate.audit_events WHERE event LIKE 'alert.%'") == 3
