"""Answers of bounded size: a statement wrapped so that PostgreSQL refuses, before sending it, an
answer larger than a number of bytes.

The database measures each row as it produces it and keeps a running total beside it (a window
over the rows in their order, which it keeps); the first row that takes the total past the limit
fails (a cast of rowgate's message to boolean, as in ``rls.raising``) before it is sent.  So a
single huge value never leaves the database, and whoever reads the answer never holds more than
the limit of rows (plus their overhead), however large the answer would have been.  A write's
``RETURNING`` rows are measured the same way, the write in a ``WITH`` of its own; a refused
answer rolls the write back with the rest of the transaction.

A row is measured as the text form of its values.  When the result's columns are known (from the
prepared statement) and their names differ, each is measured on its own: a value of a type whose
text form has a known largest length (``int4``, ``uuid``, ``timestamptz``, ...) counts that
length, a string or ``bytea`` its length (read from its header, without detoasting it), anything
else the length of its text form; the wrapper then selects the columns by name.  Otherwise the
whole row is cast to text and measured, and expanded again from a composite: exact, and several
times as costly.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from sqlglot import exp

#: Starts the message of an answer ``bounded`` refused (followed by the limit).
SIZE_MARKER = "rowgate answer limit: "

#: Columns of a result: name and type name (as asyncpg's ``Attribute`` spells them).
Columns = tuple[tuple[str, str], ...]

#: The longest text form of a value of these types (bytes), plus one for a separator.
_WIDTHS = {
    "bool": 6,
    "int2": 7,
    "int4": 12,
    "int8": 21,
    "oid": 11,
    "float4": 16,
    "float8": 25,
    "uuid": 37,
    "date": 14,
    "time": 16,
    "timetz": 22,
    "timestamp": 33,
    "timestamptz": 39,
    "money": 29,
    "inet": 44,
    "cidr": 44,
    "macaddr": 18,
    "macaddr8": 24,
}
#: Types whose ``octet_length`` is their text length, read from the value's header.
_STRINGS = frozenset({"text", "varchar", "bpchar", "bytea"})

_ROW, _TOTAL = '"rowgate.row"', '"rowgate.total"'


def bounded(sql: str, max_bytes: int, columns: Columns | None = None, *, write: bool = False) -> str:
    """``sql`` (a read, or a write with ``RETURNING`` when ``write``) wrapped so that the database
    refuses an answer larger than ``max_bytes``; ``columns``: the result's, when known."""
    return _bounded(sql, max_bytes, columns, write)


@functools.lru_cache(maxsize=4096)
def _bounded(sql: str, max_bytes: int, columns: Columns | None, write: bool) -> str:
    source = _ROW if write else f"({sql}) AS {_ROW}"
    names = [name for name, _ in columns or ()]
    if columns and len(set(names)) == len(names) and _TOTAL.strip('"') not in names:
        size = _size(columns)
        picked = ", ".join(f"w.{_ident(name)}" for name in names)
        inner = f"SELECT {_ROW}.*, sum({size}) OVER (ROWS UNBOUNDED PRECEDING) AS {_TOTAL} FROM {source}"
    else:
        picked = f"(w.{_ROW}).*"
        inner = (
            f"SELECT {_ROW}, sum(octet_length({_ROW}::text)) OVER (ROWS UNBOUNDED PRECEDING) AS {_TOTAL} "
            f"FROM {source}"
        )
    failure = f"CAST({_literal(SIZE_MARKER + str(max_bytes))} || left(w.{_TOTAL}::text, 0) AS boolean)"
    measured = (
        f"SELECT {picked} FROM ({inner}) AS w "
        f"WHERE CASE WHEN w.{_TOTAL} <= {max_bytes} THEN true ELSE {failure} END"
    )
    return f"WITH {_ROW} AS ({sql}) {measured}" if write else measured


def _size(columns: Sequence[tuple[str, str]]) -> str:
    """The text length of a row, as a SQL expression (fixed widths summed into one constant)."""
    fixed = 0
    parts = []
    for name, kind in columns:
        if kind in _WIDTHS:
            fixed += _WIDTHS[kind]
            continue
        value = f"{_ROW}.{_ident(name)}"
        measured = f"octet_length({value})" if kind in _STRINGS else f"octet_length({value}::text)"
        parts.append(f"coalesce({measured}, 0) + 1")
    return " + ".join([str(fixed), *parts])


def _ident(name: str) -> str:
    return exp.Identifier(this=name, quoted=True).sql("postgres")


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
