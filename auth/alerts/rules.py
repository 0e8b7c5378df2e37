"""The rules: which recorded events are suspicious, each decided from the event and a little history.

A rule looks at one event (read back from ``rowgate.audit_events``) and at most one small,
indexed query of the same account's earlier events.  ``travel`` is the pure core of impossible
travel; the rest is too small to split.  Rules never raise for odd data: a missing IP or an
address the database does not know simply raises no alert.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from rowgate.auth.alerts.geo import GeoLocator, Place, distance_km
from rowgate.config.alerts import AlertSettings, TravelRule

#: How many of an account's earlier sign-ins count as "known" devices and addresses.
LOOKBACK = 500


@dataclass(frozen=True, slots=True)
class Event:
    """One committed audit event."""

    id: int
    at: datetime
    event: str
    user_id: str | None
    org_id: str | None
    session_id: str | None
    ip: str | None
    user_agent: str | None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Alert:
    rule: str
    event: Event
    details: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Context:
    settings: AlertSettings
    geo: GeoLocator | None


Rule = Callable[[asyncpg.Connection, Event, Context], Awaitable[Alert | None]]


def travel(before: Place, after: Place, hours: float, rule: TravelRule) -> dict[str, Any] | None:
    """The facts of an impossible journey from ``before`` to ``after`` in ``hours``; None if possible."""
    km = distance_km(before, after)
    if km < rule.min_distance_km:
        return None
    speed = km / max(hours, 1 / 3600)
    if speed <= rule.max_speed_kmh:
        return None
    return {"distanceKm": round(km), "speedKmh": round(speed), "from": before.country, "to": after.country}


PREVIOUS_SIGNIN = """
SELECT at, ip FROM rowgate.audit_events
WHERE user_id = $1 AND event = 'signin.succeeded' AND id < $2 AND ip IS NOT NULL AND ip <> ''
ORDER BY user_id, event, id DESC LIMIT 1
"""


async def impossible_travel(conn: asyncpg.Connection, event: Event, ctx: Context) -> Alert | None:
    rule = ctx.settings.impossible_travel
    if ctx.geo is None or not rule.enabled or event.user_id is None:
        return None
    here = ctx.geo.locate(event.ip)
    previous = await conn.fetchrow(PREVIOUS_SIGNIN, event.user_id, event.id) if here else None
    there = ctx.geo.locate(previous["ip"]) if previous else None
    if here is None or there is None or previous is None:
        return None
    hours = (event.at - previous["at"]).total_seconds() / 3600
    facts = travel(there, here, hours, rule)
    return Alert("impossible_travel", event, {**facts, "previousIp": previous["ip"]}) if facts else None


KNOWN = f"""
SELECT count(*), count(*) FILTER (WHERE ip = $3), count(*) FILTER (WHERE details->>'device' = $4)
FROM (
    SELECT ip, details FROM rowgate.audit_events
    WHERE user_id = $1 AND event = 'signin.succeeded' AND id < $2
    ORDER BY user_id, event, id DESC LIMIT {LOOKBACK}
) AS earlier
"""


async def new_device(conn: asyncpg.Connection, event: Event, ctx: Context) -> Alert | None:
    """A sign-in from a device or address this account has not signed in from (its first excepted)."""
    if not ctx.settings.new_device.enabled or event.user_id is None:
        return None
    device = str(event.details.get("device", ""))
    total, same_ip, same_device = await conn.fetchrow(KNOWN, event.user_id, event.id, event.ip, device)
    if total == 0 or (same_ip and same_device):
        return None
    return Alert("new_device", event, {"device": device, "newIp": not same_ip, "newDevice": not same_device})


async def refresh_reuse(conn: asyncpg.Connection, event: Event, ctx: Context) -> Alert | None:
    """A used refresh token came back (the session was already ended by the refresh flow)."""
    if not ctx.settings.refresh_reuse.enabled:
        return None
    return Alert("refresh_reuse", event, {"sessionEnded": True})


FAILURES = """
SELECT count(*) FROM rowgate.audit_events
WHERE user_id = $1 AND event = 'signin.failed' AND id <= $2 AND at > $3::timestamptz - $4::interval
"""


async def failure_burst(conn: asyncpg.Connection, event: Event, ctx: Context) -> Alert | None:
    """The failure that makes ``failures`` within ``window`` (once per burst, not once per failure)."""
    rule = ctx.settings.failure_burst
    if not rule.enabled or event.user_id is None:
        return None
    count = await conn.fetchval(FAILURES, event.user_id, event.id, event.at, rule.window)
    if count != rule.failures:
        return None
    return Alert(
        "failure_burst", event, {"failures": count, "windowSeconds": int(rule.window.total_seconds())}
    )


async def lockout(conn: asyncpg.Connection, event: Event, ctx: Context) -> Alert | None:
    if not ctx.settings.lockout.enabled:
        return None
    keep = ("scope", "seconds", "failures")
    return Alert("lockout", event, {key: event.details[key] for key in keep if key in event.details})


NETWORKS = """
SELECT count(*), count(*) FILTER (WHERE details->>'network' = $3) FROM rowgate.audit_events
WHERE event = 'apikey.network' AND details->>'keyId' = $1 AND id < $2
"""


async def api_key_network(conn: asyncpg.Connection, event: Event, ctx: Context) -> Alert | None:
    """An API key used from a network (/24, /48) it was not used from before (its first excepted)."""
    key_id, network = str(event.details.get("keyId", "")), str(event.details.get("network", ""))
    if not ctx.settings.api_key_network.enabled or not key_id:
        return None
    total, same = await conn.fetchrow(NETWORKS, key_id, event.id, network)
    if total == 0 or same:
        return None
    return Alert("api_key_network", event, {"keyId": key_id, "network": network})


#: The rules of each event name, in the order they are evaluated.
RULES: dict[str, tuple[Rule, ...]] = {
    "signin.succeeded": (impossible_travel, new_device),
    "refresh.reused": (refresh_reuse,),
    "signin.failed": (failure_burst,),
    "signin.locked": (lockout,),
    "apikey.network": (api_key_network,),
}


async def evaluate(conn: asyncpg.Connection, event: Event, ctx: Context) -> list[Alert]:
    """Every alert ``event`` raises."""
    found = [await rule(conn, event, ctx) for rule in RULES.get(event.event, ())]
    return [alert for alert in found if alert is not None]
