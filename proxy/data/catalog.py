"""What the REST API needs to know about each table: columns, their types, and the primary key.

``read_catalog(conn, schemas)`` reads it from PostgreSQL's catalogs (domains resolved to their
base type; enum labels and plainly readable CHECK constraints kept for the OpenAPI document); the
REST builder and the OpenAPI generator only ever see the resulting ``TableInfo`` values, so they
are pure and tested without a database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import asyncpg

from rowgate.proxy.data.checks import read_checks
from rowgate.proxy.data.values import ColumnType, column_type

CATALOG = """
SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS kind, a.attname AS column,
       format_type(coalesce(nullif(t.typbasetype, 0), a.atttypid),
                   CASE WHEN t.typbasetype <> 0 THEN t.typtypmod ELSE a.atttypmod END) AS type,
       a.attnotnull AS not_null,
       (a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '') AS has_default,
       a.attgenerated <> '' AS generated,
       array_position(pk.indkey::int2[], a.attnum) AS key_position,
       (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
          FROM pg_catalog.pg_enum e WHERE e.enumtypid = a.atttypid) AS labels,
       (SELECT array_agg(pg_catalog.pg_get_constraintdef(k.oid) ORDER BY k.conname)
          FROM pg_catalog.pg_constraint k
         WHERE k.conrelid = c.oid AND k.contype = 'c' AND k.conkey = ARRAY[a.attnum]) AS checks
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_index pk ON pk.indrelid = c.oid AND pk.indisprimary
WHERE n.nspname = ANY($1::text[]) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY n.nspname, c.relname, a.attnum
"""


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    """One column: its name, type, and whether an INSERT may leave it out."""

    name: str
    type: ColumnType
    not_null: bool = False
    has_default: bool = False
    generated: bool = False
    labels: tuple[str, ...] = ()
    #: At least this many characters (a ``CHECK (column <> '')``).
    min_length: int | None = None

    @property
    def required(self) -> bool:
        """Whether an INSERT must give a value (NOT NULL without a default)."""
        return self.not_null and not self.has_default


@dataclass(frozen=True, slots=True)
class TableInfo:
    """A table (or view) as the REST API sees it."""

    schema: str
    name: str
    columns: Mapping[str, ColumnInfo]
    primary_key: tuple[str, ...] = ()
    writable: bool = True
    order: tuple[str, ...] = field(default=(), compare=False)
    #: An ordinary table (not partitioned, a view or a foreign table): PostgreSQL evaluates its
    #: row security only as it reads rows, never while it starts the statement.
    ordinary: bool = field(default=True, compare=False)

    @property
    def qualified(self) -> str:
        """``schema.name``, the key policies use."""
        return f"{self.schema}.{self.name}"

    @property
    def key(self) -> ColumnInfo | None:
        """The single-column primary key behind ``/{table}/{id}`` (``None``: none or composite)."""
        return self.columns[self.primary_key[0]] if len(self.primary_key) == 1 else None


def table_info(
    schema: str,
    name: str,
    columns: Sequence[ColumnInfo],
    primary_key: Sequence[str] = (),
    writable: bool = True,
    ordinary: bool = True,
) -> TableInfo:
    """A ``TableInfo`` from columns in order (a convenience for tests and the catalog reader)."""
    return TableInfo(
        schema,
        name,
        {c.name: c for c in columns},
        tuple(primary_key),
        writable,
        tuple(c.name for c in columns),
        ordinary,
    )


def column(
    name: str,
    type_name: str,
    *,
    not_null: bool = False,
    has_default: bool = False,
    generated: bool = False,
    labels: tuple[str, ...] = (),
    min_length: int | None = None,
) -> ColumnInfo:
    """A ``ColumnInfo`` from a type name as ``format_type`` prints it."""
    return ColumnInfo(name, column_type(type_name), not_null, has_default, generated, labels, min_length)


async def read_catalog(conn: asyncpg.Connection, schemas: Sequence[str]) -> dict[str, TableInfo]:
    """Every table and view of ``schemas``, keyed by ``schema.name``."""
    found: dict[str, tuple[str, str, str, list[ColumnInfo], dict[int, str]]] = {}
    for row in await conn.fetch(CATALOG, list(schemas)):
        key = f"{row['schema']}.{row['name']}"
        entry = found.setdefault(key, (row["schema"], row["name"], row["kind"], [], {}))
        checks = read_checks(row["column"], row["checks"] or ())
        entry[3].append(
            ColumnInfo(
                row["column"],
                column_type(row["type"]),
                bool(row["not_null"]),
                bool(row["has_default"]),
                bool(row["generated"]),
                tuple(row["labels"] or ()) or checks.labels,
                checks.min_length,
            )
        )
        if row["key_position"] is not None:
            entry[4][row["key_position"]] = row["column"]
    return {
        key: table_info(
            schema, name, columns, [keys[i] for i in sorted(keys)], kind in ("r", "p", "f"), kind == "r"
        )
        for key, (schema, name, kind, columns, keys) in found.items()
    }
