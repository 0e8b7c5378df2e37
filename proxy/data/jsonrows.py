"""The rows of a REST answer as JSON: written by rowgate from decoded records (``encode``), or by
PostgreSQL itself (``json_rows``), byte for byte the same.

``encode`` is the one way the data API turns values into JSON: UUIDs as text, times in ISO 8601,
decimals as strings (exactly), bytes in base64, intervals in seconds.

``json_rows`` wraps a read (already bounded: ``proxy.data.bounded``) so that the database answers
one text value, the JSON array of its rows, which rowgate forwards without decoding a record: a
column at a time, each written as ``encode`` would write the value asyncpg decodes for it
(``row_to_json`` of the row, with times and decimals cast to text first).  Only when every column
is of a type whose JSON it can write exactly; otherwise ``None``, and the rows are read as
records.  A value it cannot write exactly (a time outside years 1 to 9999, infinity, a decimal
Python writes in scientific notation) makes the statement fail with ``INEXACT_MARKER`` before it
answers, and the caller reads the rows as records instead.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

import orjson

from rowgate.proxy.data.bounded import TOTAL, quoted

#: Starts the message of a value ``json_rows`` cannot write exactly as ``encode`` would.
INEXACT_MARKER = "rowgate json inexact"

#: A result column: its name, its type's name and its type's schema (as asyncpg's ``Attribute``).
Column = tuple[str, str, str]


def encode(body: Any) -> bytes:
    """``body`` as JSON, every value of a row written as the data API writes it."""
    return orjson.dumps(body, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address | ipaddress.IPv4Interface):
        return str(value)
    if isinstance(value, ipaddress.IPv6Interface | ipaddress.IPv4Network | ipaddress.IPv6Network):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


#: Types whose JSON ``row_to_json`` writes as ``encode`` writes the value asyncpg decodes for
#: them (integers, booleans, strings, UUIDs as text, and arrays of them).
_AS_THEY_ARE = frozenset(
    {"int2", "int4", "int8", "bool", "text", "varchar", "bpchar", "name", "uuid"}
    | {"_int2", "_int4", "_int8", "_bool", "_text", "_varchar", "_uuid"}
)


def _inexact(value: str) -> str:
    # fails for every row that gets here, never while planning (it depends on the value)
    return f"CAST('{INEXACT_MARKER}' || left(({value})::text, 0) AS boolean)"


def _timestamp(value: str, kind: str) -> str:
    """A ``timestamp[tz]`` as Python's ``isoformat`` writes the ``datetime`` asyncpg decodes:
    UTC, microseconds only when there are any (all six digits)."""
    zone = kind == "timestamptz"
    utc = f"({value} AT TIME ZONE 'UTC')" if zone else value
    low, high = (
        ("'0001-01-01 00:00:00+00'", "'10000-01-01 00:00:00+00'")
        if zone
        else ("'0001-01-01'", "'10000-01-01'")
    )
    low, high = (f"{kind} {bound}" for bound in (low, high))
    text = f"""replace(to_char({utc}, 'YYYY-MM-DD"T"HH24:MI:SS.US'), '.000000', '')"""
    if zone:
        text += " || '+00:00'"
    return (
        f"CASE WHEN {value} IS NULL THEN NULL WHEN {value} >= {low} AND {value} < {high} "
        f"THEN {text} WHEN {_inexact(value)} THEN NULL END"
    )


def _date(value: str) -> str:
    return (
        f"CASE WHEN {value} IS NULL THEN NULL WHEN {value} >= date '0001-01-01' AND {value} < "
        f"date '10000-01-01' THEN {value} WHEN {_inexact(value)} THEN NULL END"
    )


def _numeric(value: str) -> str:
    """A ``numeric`` as ``str`` writes the ``Decimal`` asyncpg decodes: its text, unless Python
    would write it in scientific notation (a value under 10⁻⁶ with its digits, or a zero of more
    than six decimals)."""
    plain = f"{value} <> 0 AND abs({value}) >= 0.000001 OR {value} = 0 AND scale({value}) <= 6"
    return (
        f"CASE WHEN {value} IS NULL THEN NULL WHEN {plain} THEN {value}::text "
        f"WHEN {_inexact(value)} THEN NULL END"
    )


def _expression(value: str, kind: str) -> str | None:
    if kind in _AS_THEY_ARE:
        return value
    if kind in ("timestamptz", "timestamp"):
        return _timestamp(value, kind)
    if kind == "date":
        return _date(value)
    if kind == "numeric":
        return _numeric(value)
    return None


def json_rows(sql: str, columns: Sequence[Column]) -> str | None:
    """``sql``, a read ``bounded`` wrapped with its ``columns`` (so that each row carries the
    strictly growing running total of its size, which orders them), as one statement answering
    the JSON array of its rows as text; ``None`` unless every column can be written exactly."""
    return _json_rows(sql, tuple(columns))


@functools.lru_cache(maxsize=4096)
def _json_rows(sql: str, columns: tuple[Column, ...]) -> str | None:
    names = [name for name, _, _ in columns]
    if not columns or len(set(names)) != len(names) or TOTAL.strip('"') in names:
        return None
    picked = []
    for name, kind, schema in columns:
        expression = _expression(f"w.{quoted(name)}", kind) if schema == "pg_catalog" else None
        if expression is None:
            return None
        picked.append(f"{expression} AS {quoted(name)}")
    return (
        f"SELECT '[' || coalesce(string_agg(row_to_json(j)::text, ',' ORDER BY w.{TOTAL}), '') || ']' "
        f"FROM ({sql}) AS w CROSS JOIN LATERAL (SELECT {', '.join(picked)}) AS j"
    )
