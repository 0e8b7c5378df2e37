"""Values for bind parameters, checked against the column's PostgreSQL type before any SQL runs.

The REST API receives values as text (query strings) or JSON (bodies).  Each is converted to the
Python value asyncpg binds for the column's type, or refused with a message saying what the
column expects, so a malformed value is the caller's 4xx and never a database error:

    column_type("numeric(10,2)")          ColumnType(name="numeric(10,2)", family="numeric", ...)
    from_text("42", column_type("integer"))     → 42
    from_json("2024-01-02T03:04:05Z", column_type("timestamp with time zone")) → datetime(...)

Types rowgate does not know (enums, extension types) are bound as text and PostgreSQL parses
them; domains are introspected as their base type.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import math
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

_FAMILIES = {
    "smallint": "int2",
    "integer": "int4",
    "bigint": "int8",
    "numeric": "numeric",
    "real": "float",
    "double precision": "float",
    "text": "text",
    "character varying": "text",
    "character": "text",
    "citext": "text",
    "name": "text",
    "boolean": "bool",
    "uuid": "uuid",
    "timestamp with time zone": "timestamptz",
    "timestamp without time zone": "timestamp",
    "date": "date",
    "time without time zone": "time",
    "time with time zone": "timetz",
    "interval": "interval",
    "json": "json",
    "jsonb": "json",
    "bytea": "bytea",
    "inet": "inet",
    "cidr": "cidr",
}
_INT_RANGE = {"int2": 2**15, "int4": 2**31, "int8": 2**63}
_MODIFIER = re.compile(r"\(([^)]*)\)")

#: Families whose values compare as text (``like`` and ``ilike`` apply to them).
TEXT_FAMILIES = frozenset({"text"})


@dataclass(frozen=True, slots=True)
class ColumnType:
    """A column's type as ``format_type`` spells it, and what rowgate makes of it."""

    name: str
    family: str
    array: bool
    max_length: int | None

    @property
    def element(self) -> ColumnType:
        """The element type of an array type (itself otherwise)."""
        return ColumnType(self.name.removesuffix("[]"), self.family, False, self.max_length)

    def describe(self) -> str:
        """What a value of this type looks like, for error messages."""
        if self.array:
            return f"a JSON array of {_DESCRIPTIONS.get(self.family, 'strings')}"
        return _DESCRIPTIONS.get(self.family, "a string")


_DESCRIPTIONS = {
    "int2": "an integer from -32768 to 32767",
    "int4": "an integer from -2147483648 to 2147483647",
    "int8": "a 64-bit integer",
    "numeric": "a number",
    "float": "a finite number",
    "text": "a string",
    "bool": "true or false",
    "uuid": "a UUID",
    "timestamptz": "an ISO 8601 timestamp such as 2024-05-01T12:00:00Z",
    "timestamp": "an ISO 8601 timestamp such as 2024-05-01T12:00:00",
    "date": "an ISO 8601 date such as 2024-05-01",
    "time": "a time such as 12:30:00",
    "timetz": "a time with an offset such as 12:30:00+02:00",
    "interval": "a number of seconds",
    "json": "any JSON value",
    "bytea": "base64-encoded bytes",
    "inet": "an IP address",
    "cidr": "an IP network such as 10.0.0.0/8",
}


@lru_cache(maxsize=1024)
def column_type(name: str) -> ColumnType:
    """Classify a type name as ``format_type`` prints it (``character varying(20)``, ``int[]``)."""
    array = name.endswith("[]")
    base = name.removesuffix("[]")
    modifier = _MODIFIER.search(base)
    bare = _MODIFIER.sub("", base).strip()
    family = _FAMILIES.get(bare, "other")
    max_length = None
    if modifier and family == "text" and modifier.group(1).isdigit():
        max_length = int(modifier.group(1))
    return ColumnType(name, family, array, max_length)


def from_text(text: str, kind: ColumnType) -> Any:
    """The value a query-string ``text`` stands for in a column of type ``kind``."""
    if kind.array or kind.family == "json":
        try:
            parsed = json.loads(text)
        except ValueError:
            raise ValueError(f"expected {kind.describe()} written as JSON") from None
        return from_json(parsed, kind)
    family = kind.family
    if family in _INT_RANGE:
        if not re.fullmatch(r"[+-]?\d{1,20}", text):
            raise ValueError(f"expected {kind.describe()}")
        return _integer(int(text), kind)
    if family == "float" or family == "numeric":
        return _number(text, kind)
    if family == "bool":
        if text not in ("true", "false"):
            raise ValueError("expected true or false")
        return text == "true"
    return from_json(text, kind)


def from_json(value: Any, kind: ColumnType) -> Any:
    """The value a JSON ``value`` stands for in a column of type ``kind`` (``None`` is NULL)."""
    if value is None:
        return None
    if kind.array:
        if not isinstance(value, list):
            raise ValueError(f"expected {kind.describe()}")
        element = kind.element
        return [from_json(item, element) for item in value]
    converter: Converter = _CONVERTERS.get(kind.family, _string)
    return converter(value, kind)


def _integer(value: Any, kind: ColumnType) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ValueError(f"expected {kind.describe()}")
    bound = _INT_RANGE[kind.family]
    if not -bound <= value < bound:
        raise ValueError(f"expected {kind.describe()}")
    return int(value)


def _number(value: Any, kind: ColumnType) -> Decimal | float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected {kind.describe()}")
    if kind.family == "float":
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"expected {kind.describe()}") from None
        if not math.isfinite(number):
            raise ValueError(f"expected {kind.describe()}")
        return number
    try:
        decimal = Decimal(str(value).strip()) if isinstance(value, str) else Decimal(repr(value))
    except InvalidOperation:
        raise ValueError(f"expected {kind.describe()}") from None
    if not decimal.is_finite():
        raise ValueError(f"expected {kind.describe()}")
    return decimal


def _string(value: Any, kind: ColumnType) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected {kind.describe()}")
    if "\x00" in value:
        raise ValueError("text cannot hold the NUL character")
    if kind.max_length is not None and len(value) > kind.max_length:
        raise ValueError(f"expected at most {kind.max_length} characters")
    return value


def _boolean(value: Any, kind: ColumnType) -> bool:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def _uuid(value: Any, kind: ColumnType) -> uuid.UUID:
    try:
        return uuid.UUID(_string(value, kind))
    except ValueError:
        raise ValueError(f"expected {kind.describe()}") from None


def _timestamp(value: Any, kind: ColumnType) -> datetime:
    try:
        moment = datetime.fromisoformat(_string(value, kind))
    except ValueError:
        raise ValueError(f"expected {kind.describe()}") from None
    if kind.family == "timestamptz":
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo is not None else moment


def _date(value: Any, kind: ColumnType) -> date:
    try:
        return date.fromisoformat(_string(value, kind))
    except ValueError:
        raise ValueError(f"expected {kind.describe()}") from None


def _time(value: Any, kind: ColumnType) -> time:
    try:
        parsed = time.fromisoformat(_string(value, kind))
    except ValueError:
        raise ValueError(f"expected {kind.describe()}") from None
    if kind.family == "timetz" and parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed if kind.family == "timetz" else parsed.replace(tzinfo=None)


def _interval(value: Any, kind: ColumnType) -> timedelta:
    if isinstance(value, str):
        value = _number(value, column_type("double precision"))
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"expected {kind.describe()}")
    try:
        return timedelta(seconds=value)
    except OverflowError:
        raise ValueError(f"expected {kind.describe()}") from None


def _json(value: Any, kind: ColumnType) -> Any:
    return value


def _bytea(value: Any, kind: ColumnType) -> bytes:
    try:
        return base64.b64decode(_string(value, kind), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"expected {kind.describe()}") from None


def _network(value: Any, kind: ColumnType) -> Any:
    text = _string(value, kind)
    try:
        if kind.family == "cidr":
            return ipaddress.ip_network(text)
        return ipaddress.ip_interface(text)
    except ValueError:
        raise ValueError(f"expected {kind.describe()}") from None


Converter = Callable[[Any, ColumnType], Any]
_CONVERTERS: dict[str, Converter] = {
    "int2": _integer,
    "int4": _integer,
    "int8": _integer,
    "numeric": _number,
    "float": _number,
    "text": _string,
    "bool": _boolean,
    "uuid": _uuid,
    "timestamptz": _timestamp,
    "timestamp": _timestamp,
    "date": _date,
    "time": _time,
    "timetz": _time,
    "interval": _interval,
    "json": _json,
    "bytea": _bytea,
    "inet": _network,
    "cidr": _network,
}


#: PostgreSQL's internal type names (``pg_type.typname``, as asyncpg reports parameter types)
#: mapped to the names ``format_type`` prints.
_INTERNAL_NAMES = {
    "int2": "smallint",
    "int4": "integer",
    "int8": "bigint",
    "float4": "real",
    "float8": "double precision",
    "varchar": "character varying",
    "bpchar": "character",
    "bool": "boolean",
    "timestamptz": "timestamp with time zone",
    "timestamp": "timestamp without time zone",
    "time": "time without time zone",
    "timetz": "time with time zone",
}


def internal_type(name: str) -> ColumnType:
    """The ``ColumnType`` of a type known by its internal name (``int4``, ``_uuid`` for arrays)."""
    array = name.startswith("_")
    base = name[1:] if array else name
    return column_type(_INTERNAL_NAMES.get(base, base) + ("[]" if array else ""))
