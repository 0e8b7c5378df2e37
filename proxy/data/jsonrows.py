"""The rows of a REST answer as JSON: written by rowgate from decoded records (``encode``), or by
PostgreSQL itself (``json_rows``), byte for byte the same.

``encode`` is the one way the data API turns values into JSON: UUIDs as text, times in ISO 8601,
decimals as strings (exactly), bytes in base64, intervals in seconds.

``json_rows`` wraps a read (already bounded: ``proxy.data.bounded``) so that the database answers
one text value, the JSON array of its rows, which rowgate forwards without decoding a record.
Each value is written as ``encode`` writes the value asyncpg decodes for it, as text put together
column by column (``concat('{"id":', ..., '}')``: about half of what ``row_to_json`` costs the
database, which looks up the row's type for every row), and the rows are joined by
``string_agg`` in the order the read produced them (a plain aggregate over the bounded read: no
sort, no parallel step between them).  Only when every column is of a type whose JSON it can
write exactly; otherwise ``None``, and the rows are read as records.  A value it cannot write
exactly (a time outside years 1 to 9999, infinity, a decimal Python writes in scientific
notation) makes the statement fail with ``INEXACT_MARKER`` before it answers, and the caller
reads the rows as records instead (a second statement, for such rare values).

Writing the JSON costs the database about the CPU it saves rowgate (loadtests/RESULTS.md): the
gain is rowgate's, whose one process per worker is the first to run out.
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

from rowgate.proxy.data.restsql import quote as quoted

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


#: Types whose JSON ``to_json`` writes as ``encode`` writes the value asyncpg decodes for them
#: (strings, and arrays of integers, booleans, strings and UUIDs).
_TO_JSON = frozenset(
    {"text", "varchar", "bpchar", "name"}
    | {"int2[]", "int4[]", "int8[]", "bool[]", "text[]", "varchar[]", "uuid[]"}
)


def _inexact(value: str) -> str:
    # fails for every row that gets here, never while planning (it depends on the value)
    return f"CAST('{INEXACT_MARKER}' || left(({value})::text, 0) AS boolean)"


def _guarded(value: str, exact: str, text: str) -> str:
    """``text`` (the JSON of ``value``) where ``exact`` holds, ``null`` for NULL, else a failure."""
    return (
        f"CASE WHEN {value} IS NULL THEN 'null' WHEN {exact} THEN {text} WHEN {_inexact(value)} THEN NULL END"
    )


def _timestamp(value: str, kind: str) -> str:
    """A ``timestamp[tz]`` as ``isoformat`` writes the ``datetime`` asyncpg decodes: in UTC,
    microseconds only when there are any (all six digits), years 1 to 9999."""
    zone = kind == "timestamptz"
    utc = f"({value} AT TIME ZONE 'UTC')" if zone else value
    low, high = (
        ("'0001-01-01 00:00:00+00'", "'10000-01-01 00:00:00+00'")
        if zone
        else ("'0001-01-01'", "'10000-01-01'")
    )
    iso = f"""replace(to_char({utc}, 'YYYY-MM-DD"T"HH24:MI:SS.US'), '.000000', '')"""
    text = f"""'"' || {iso} || '{"+00:00" if zone else ""}"'"""
    return _guarded(value, f"{value} >= {kind} {low} AND {value} < {kind} {high}", text)


def _numeric(value: str) -> str:
    """A ``numeric`` as ``str`` writes the ``Decimal`` asyncpg decodes, in a JSON string: its
    text, unless Python would write it in scientific notation (a value under 10⁻⁶ with its
    digits, or a zero of more than six decimals)."""
    plain = f"{value} <> 0 AND abs({value}) >= 0.000001 OR {value} = 0 AND scale({value}) <= 6"
    return _guarded(value, plain, f"""'"' || {value}::text || '"'""")


def _expression(value: str, kind: str) -> str | None:
    """The JSON of ``value``, a column of type ``kind``, as text (never NULL); ``None`` when it
    cannot be written exactly."""
    if kind in ("int2", "int4", "int8"):
        return f"coalesce({value}::text, 'null')"
    if kind == "bool":
        return f"CASE WHEN {value} THEN 'true' WHEN NOT {value} THEN 'false' ELSE 'null' END"
    if kind == "uuid":
        return f"""coalesce('"' || {value}::text || '"', 'null')"""
    if kind in _TO_JSON:
        return f"coalesce(to_json({value})::text, 'null')"
    if kind in ("timestamptz", "timestamp"):
        return _timestamp(value, kind)
    if kind == "date":
        exact = f"{value} >= date '0001-01-01' AND {value} < date '10000-01-01'"
        return _guarded(value, exact, f"to_json({value})::text")
    if kind == "numeric":
        return _numeric(value)
    return None


def json_rows(sql: str, columns: Sequence[Column]) -> str | None:
    """``sql``, a read already ``bounded``, as one statement answering the JSON array of its rows
    (its ``columns``) as text; ``None`` unless every column can be written exactly."""
    return _json_rows(sql, tuple(columns))


@functools.lru_cache(maxsize=4096)
def _json_rows(sql: str, columns: tuple[Column, ...]) -> str | None:
    names = [name for name, _, _ in columns]
    if not columns or len(set(names)) != len(names):
        return None
    parts: list[str] = []
    for name, kind, schema in columns:
        expression = _expression(f"w.{quoted(name)}", kind) if schema == "pg_catalog" else None
        if expression is None:
            return None
        key = ("{" if not parts else ",") + orjson.dumps(name).decode() + ":"
        parts += [_literal(key), expression]
    row = "concat(" + ", ".join([*parts, "'}'"]) + ")"
    return f"SELECT '[' || coalesce(string_agg({row}, ','), '') || ']' FROM ({sql}) AS w"


def _literal(value: str) -> str:
    """A PostgreSQL literal that holds exactly ``value``, whatever ``standard_conforming_strings``."""
    return "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
