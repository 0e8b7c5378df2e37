"""Helpers of the alert tests: a tiny GeoIP database, places, and events written to the audit trail."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from mmdb_writer import MMDBWriter
from netaddr import IPSet

from rowgate.auth.db import Database

#: Networks of the test database: (network, latitude, longitude, country).
PLACES = {
    "london": ("81.2.69.0/24", 51.5142, -0.0931, "GB"),
    "paris": ("90.80.70.0/24", 48.8566, 2.3522, "FR"),
    "sydney": ("1.128.0.0/24", -33.8688, 151.2093, "AU"),
}
LONDON, LONDON_2, PARIS, SYDNEY = "81.2.69.160", "81.2.69.20", "90.80.70.5", "1.128.0.9"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def write_geoip(path: Path) -> Path:
    """A city database (GeoLite2 layout) with the networks of ``PLACES``."""
    writer = MMDBWriter(ip_version=6, database_type="GeoLite2-City", ipv4_compatible=True)
    for network, lat, lon, country in PLACES.values():
        record = {"location": {"latitude": lat, "longitude": lon}, "country": {"iso_code": country}}
        writer.insert_network(IPSet([network]), record)
    writer.to_db_file(str(path))
    return path


async def add_user(db: Database, email: str, org_id: str | None = None, role: str = "member") -> str:
    user_id = str(await db.fetchval("INSERT INTO rowgate.users (email) VALUES ($1) RETURNING id", email))
    if org_id is not None:
        await db.execute(
            "INSERT INTO rowgate.memberships (org_id, user_id, role) VALUES ($1, $2, $3)",
            org_id,
            user_id,
            role,
        )
    return user_id


async def add_org(db: Database, name: str) -> str:
    return str(await db.fetchval("INSERT INTO rowgate.orgs (name) VALUES ($1) RETURNING id", name))


async def event(
    db: Database,
    name: str,
    user_id: str | None,
    ip: str,
    *,
    at: datetime | None = None,
    org_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> int:
    """Write one audit event as the flows do (``at``: when, default now)."""
    import json

    return int(
        await db.fetchval(
            """
            INSERT INTO rowgate.audit_events (event, user_id, org_id, ip, user_agent, details, at)
            VALUES ($1, $2, $3, $4, $5, $6::jsonb, coalesce($7, now())) RETURNING id
            """,
            name,
            user_id,
            org_id,
            ip,
            FIREFOX,
            json.dumps(details or {}),
            at,
        )
    )


def signin(device: str = "Firefox on Linux") -> dict[str, Any]:
    return {"method": "password", "device": device}
