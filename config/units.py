"""Human units in config files: durations (``15m``, ``1h30m``, ``30d``) and sizes (``10MB``, ``64KiB``)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = re.compile(r"(\d+)\s*(b|kb|kib|mb|mib|gb|gib)?", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "kib": 1024,
    "mb": 1000**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "gib": 1024**3,
}


def parse_duration(value: object) -> timedelta:
    """Parse ``90s``, ``15m``, ``1h30m``, ``30d``; a bare number counts seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 15m or 1h, got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"expected a duration like 15m or 1h, got {value!r} (negative)")
        return timedelta(seconds=value)
    text = str(value).strip().lower()
    parts = _DURATION_PART.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"expected a duration like 15m or 1h, got {value!r}")
    return timedelta(seconds=sum(float(n) * _DURATION_UNITS[u] for n, u in parts))


def parse_size(value: object) -> int:
    """Parse ``1048576``, ``64KiB``, ``10MB`` into bytes."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size like 64KiB or 10MB, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"expected a size like 64KiB or 10MB, got {value!r} (negative)")
        return value
    match = _SIZE.fullmatch(str(value).strip())
    if not match:
        raise ValueError(f"expected a size like 64KiB or 10MB, got {value!r}")
    return int(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()]


def _format_duration(value: timedelta) -> str:
    return f"{value.total_seconds():g}s"


Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(_format_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]
