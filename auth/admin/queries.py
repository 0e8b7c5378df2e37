"""Reading admin query strings into typed filters (pure code): every bad value is a 400 with a
stable code naming the parameter, never a 500 and never a silently ignored typo."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from rowgate.auth.ids import canonical_uuid
from rowgate.errors import BadRequest

Outcome = Literal["success", "failure"]

#: Events per page when ``limit`` is not given, and the most one page may hold.
DEFAULT_LIMIT, MAX_LIMIT = 100, 500
#: Longest ``search`` and ``event`` values.
MAX_TEXT = 100
_EVENT = re.compile(r"[a-z0-9_.]{1,64}")
#: Events that record a refusal or an attack (the last word of the event name).
_FAILURE = re.compile(r"(^|[._])(failed|locked|reused|duplicate|denied|refused)$")


def outcome_of(event: str) -> Outcome:
    """Whether an event records something refused (``failure``) or done (``success``)."""
    return "failure" if _FAILURE.search(event) else "success"


#: The same test in SQL (the pattern is also a valid POSIX regular expression).
FAILURE_SQL = _FAILURE.pattern


@dataclass(frozen=True, slots=True)
class AuditFilter:
    user_id: str | None = None
    #: Events whose name starts with this (``signin`` matches ``signin.failed``).
    event: str | None = None
    outcome: Outcome | None = None
    ip: str | None = None
    #: From (inclusive) and to (exclusive).
    since: datetime | None = None
    until: datetime | None = None


FILTER_PARAMETERS = frozenset({"user", "event", "outcome", "ip", "from", "to"})
AUDIT_PARAMETERS = FILTER_PARAMETERS | {"limit", "cursor"}
USER_PARAMETERS = frozenset({"search", "limit", "cursor"})


def refuse_unknown(query: Mapping[str, str], known: frozenset[str]) -> None:
    unknown = sorted(set(query) - known)
    if unknown:
        raise BadRequest(
            f"Unknown query parameter(s): {', '.join(unknown)[:200]}; known: {', '.join(sorted(known))}.",
            code="unknown_parameter",
        )


def audit_filter(query: Mapping[str, str], known: frozenset[str] = AUDIT_PARAMETERS) -> AuditFilter:
    """The filters of ``GET /admin/audit`` from its query string."""
    refuse_unknown(query, known)
    found = AuditFilter(
        user_id=_user(query.get("user")),
        event=_event(query.get("event")),
        outcome=_outcome(query.get("outcome")),
        ip=_ip(query.get("ip")),
        since=_time("from", query.get("from")),
        until=_time("to", query.get("to")),
    )
    if found.since and found.until and found.since >= found.until:
        raise BadRequest("from: must be before to.", code="invalid_time_range")
    return found


def export_filter(query: Mapping[str, str]) -> AuditFilter:
    """The filters of an export: a time range is required (``from`` and ``to``)."""
    found = audit_filter(query, FILTER_PARAMETERS)
    if found.since is None or found.until is None:
        raise BadRequest("An export needs a time range: from and to (RFC 3339).", code="time_range_required")
    return found


def limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_LIMIT):
        raise BadRequest(
            f"limit: expected a whole number from 1 to {MAX_LIMIT}, got {text[:40]!r}", code="invalid_limit"
        )
    return int(text)


def search(text: str | None) -> str | None:
    if not text:
        return None
    if len(text) > MAX_TEXT or not text.isprintable():
        raise BadRequest(f"search: at most {MAX_TEXT} printable characters.", code="invalid_search")
    return text


def _user(text: str | None) -> str | None:
    if text is None:
        return None
    user = canonical_uuid(text)
    if user is None:
        raise BadRequest(f"user: expected a user id (UUID), got {text[:40]!r}", code="invalid_user")
    return user


def _event(text: str | None) -> str | None:
    if text is None:
        return None
    if not _EVENT.fullmatch(text):
        raise BadRequest(
            "event: expected an event name or its beginning (a-z, 0-9, _ and ., at most 64), "
            f"got {text[:40]!r}",
            code="invalid_event",
        )
    return text


def _outcome(text: str | None) -> Outcome | None:
    if text is None:
        return None
    if text == "success":
        return "success"
    if text == "failure":
        return "failure"
    raise BadRequest(f"outcome: expected success or failure, got {text[:40]!r}", code="invalid_outcome")


def _ip(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise BadRequest(f"ip: expected an IP address, got {text[:60]!r}", code="invalid_ip") from None


def _time(name: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        when = None
    if when is None or when.tzinfo is None or "T" not in text.upper():
        raise BadRequest(
            f"{name}: expected an RFC 3339 time with its offset, like 2026-12-01T00:00:00Z, "
            f"got {text[:40]!r}",
            code="invalid_time",
        )
    return when


def encode_cursor(*parts: str) -> str:
    """An opaque cursor: where the next page starts (a position, never a scope or a filter)."""
    return base64.urlsafe_b64encode("|".join(parts).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, count: int) -> list[str]:
    """The ``count`` parts of a cursor made by ``encode_cursor`` (the last may hold ``|``); 400
    for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        parts = raw.split("|", count - 1)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        parts = []
    if len(parts) != count or len(cursor) > 600:
        raise bad_cursor()
    return parts


def bad_cursor() -> BadRequest:
    return BadRequest(
        "cursor: expected the `next` value of a previous page, unchanged", code="invalid_cursor"
    )
