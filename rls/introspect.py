"""Reading the tables the database has (asyncpg), for the rewriter's schema.

``introspect`` returns a ``Schema`` with, for the ordinary, partitioned and foreign tables and
the views of the schemas asked for, every column in declared order with its type and its
default expression.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from rowgate.rls.schema import Schema

COLUMNS = """
SELECT n.nspname AS schema, c.relname AS name, a.attname AS column,
       format_type(a.atttypid, a.atttypmod) AS type, pg_get_expr(d.adbin, d.adrelid) AS default
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = ANY($1::text[]) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY n.nspname, c.relname, a.attnum
"""


async def introspect(conn: asyncpg.Connection, schemas: Sequence[str] = ("public",)) -> Schema:
    """Every table of ``schemas`` with its columns, their types and defaults."""
    tables: dict[str, dict[str, str]] = {}
    defaults: dict[str, dict[str, str]] = {}
    for row in await conn.fetch(COLUMNS, list(schemas)):
        key = f"{row['schema']}.{row['name']}"
        tables.setdefault(key, {})[row["column"]] = row["type"]
        table_defaults = defaults.setdefault(key, {})
        if row["default"] is not None:
            table_defaults[row["column"]] = row["default"]
    return Schema(tables, schemas[0] if schemas else "public", defaults)
