"""The tables the database has and their columns, in order.

The rewriter lists a table's visible columns explicitly in every filtered read, so it must know
the columns; it refuses a table whose columns it does not know rather than guess.  Columns come
from the caller (``rls.introspect`` reads them from ``information_schema``) or, failing that,
from ``columns.all`` in the policy file.

A schema is a mapping from exact table names (``"public.tasks"``, or ``"tasks"`` in the
policy's default schema) to exact column names in order, either as a sequence or as a mapping
of column name to type (``{"id": "uuid", ...}``): types make native policy export and bind
parameters exact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from rls.policy import PolicySet, TablePolicy

SchemaInput = Mapping[str, Sequence[str] | Mapping[str, str]]


class Schema:
    """Known tables: exact ``schema.name`` → ordered column names (and types when given)."""

    __slots__ = ("_columns", "_types")

    def __init__(self, tables: SchemaInput | None = None, default_schema: str = "public") -> None:
        columns: dict[str, tuple[str, ...]] = {}
        types: dict[str, Mapping[str, str]] = {}
        for key, value in (tables or {}).items():
            schema, _, name = key.rpartition(".")
            qualified = f"{schema or default_schema}.{name}"
            columns[qualified] = tuple(value)
            if isinstance(value, Mapping):
                types[qualified] = MappingProxyType(dict(value))
        self._columns = columns
        self._types = types

    def columns(self, table: TablePolicy) -> tuple[str, ...] | None:
        """The table's columns in order, from the schema or else the policy; ``None``: unknown."""
        return self._columns.get(table.qualified, table.columns)

    def knows(self, schema: str, name: str) -> bool:
        """Whether the database has a table ``schema.name`` (as far as this schema says)."""
        return f"{schema}.{name}" in self._columns

    def types(self, qualified: str) -> Mapping[str, str]:
        """Column types of a table (empty when the schema gave only names)."""
        return self._types.get(qualified, {})

    def tables(self) -> tuple[str, ...]:
        """Every table the schema names (``schema.name``)."""
        return tuple(self._columns)


def schema_problems(policies: PolicySet, schema: Schema) -> list[str]:
    """Each way the policies do not fit the schema, as ``tables.<name>: ...`` lines."""
    problems = []
    for table in policies.tables.values():
        columns = schema.columns(table)
        if columns is None:
            continue
        missing = sorted(table.referenced_columns() - set(columns))
        if missing:
            problems.append(
                f"tables.{table.qualified}: the rules name columns the table does not have: {missing}"
            )
    return problems
