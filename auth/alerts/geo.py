"""Where an IP address is, from a local MaxMind GeoLite2 / DB-IP city database, and how far apart."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import maxminddb

from rowgate.errors import ConfigError

EARTH_RADIUS_KM = 6371.0


@dataclass(frozen=True, slots=True)
class Place:
    latitude: float
    longitude: float
    country: str = ""


def distance_km(a: Place, b: Place) -> float:
    """Great-circle distance (haversine)."""
    lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
    dlat, dlon = lat2 - lat1, math.radians(b.longitude - a.longitude)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, h)))


class GeoLocator:
    """Looks addresses up in an .mmdb file held open (memory-mapped) for the process's life."""

    def __init__(self, path: Path) -> None:
        try:
            self._reader = maxminddb.open_database(str(path))
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            raise ConfigError([f"alerts.geoip_database: cannot open {path} ({type(exc).__name__})"]) from exc

    def locate(self, ip: str | None) -> Place | None:
        """The place of ``ip``; None for unknown, private or malformed addresses."""
        try:
            address = ipaddress.ip_address(ip or "")
        except ValueError:
            return None
        if not address.is_global:
            return None
        found = self._reader.get(address)
        return _place(found) if isinstance(found, dict) else None

    def close(self) -> None:
        self._reader.close()


def _place(record: dict[str, Any]) -> Place | None:
    location = record.get("location")
    if not isinstance(location, dict):
        return None
    lat, lon = location.get("latitude"), location.get("longitude")
    if not isinstance(lat, int | float) or not isinstance(lon, int | float):
        return None
    country = record.get("country")
    code = country.get("iso_code", "") if isinstance(country, dict) else ""
    return Place(float(lat), float(lon), str(code))
