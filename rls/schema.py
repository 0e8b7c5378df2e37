"""The tables the database has: their columns in order, and (when known) types and defaults.

The rewriter lists a table's visible columns explicitly in every filtered read, so it must know
the columns; it refuses a table whose columns it does not know rather than guess.  Columns come
from the caller (``rls.introspect`` reads them, with types and defaults, from the catalogs) or,
failing that, from ``columns.all`` in the policy file.

``tables`` maps exact table names (``"public.tasks"``, or ``"tasks"`` in the policy's default
schema) to exact column names in order, either as a sequence or as a mapping of column name to
type (``{"id": "uuid", ...}``).  ``defaults`` maps the same table names to the default
expression (SQL text) of each column that has one: with it, an INSERT that leaves a column
out is checked against the policy with the value the column will get.  Types make native policy
export exact.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from sqlglot import exp
from sqlglot.errors import SqlglotError

from rowgate.rls.names import dialect_of
from rowgate.rls.policy import PolicySet, TablePolicy

#: Quotes, modifiers and array brackets around a type name (``"Mood"[]``, ``numeric(6,2)``).
_TYPE_DECORATION = re.compile(r'"|\(.*?\)|\[\d*\]')

SchemaInput = Mapping[str, Sequence[str] | Mapping[str, str]]
DefaultsInput = Mapping[str, Mapping[str, str]]


class Schema:
    """Known tables: exact ``schema.name`` → ordered column names, types and defaults."""

    __slots__ = ("_columns", "_defaults", "_type_names", "_types")

    def __init__(
        self,
        tables: SchemaInput | None = None,
        default_schema: str = "public",
        defaults: DefaultsInput | None = None,
    ) -> None:
        self._columns: dict[str, tuple[str, ...]] = {}
        self._types: dict[str, Mapping[str, str]] = {}
        for key, value in (tables or {}).items():
            qualified = _qualified(key, default_schema)
            self._columns[qualified] = tuple(value)
            if isinstance(value, Mapping):
                self._types[qualified] = MappingProxyType(dict(value))
        self._defaults = {
            _qualified(key, default_schema): {column: _constant(text) for column, text in columns.items()}
            for key, columns in (defaults or {}).items()
        }
        self._type_names: frozenset[str] | None = None

    def columns(self, table: TablePolicy) -> tuple[str, ...] | None:
        """The table's columns in order, from the schema or else the policy; ``None``: unknown."""
        return self._columns.get(table.qualified, table.columns)

    def knows(self, schema: str, name: str) -> bool:
        """Whether the database has a table ``schema.name`` (as far as this schema says)."""
        return f"{schema}.{name}" in self._columns

    def types(self, qualified: str) -> Mapping[str, str]:
        """Column types of a table (empty when the schema gave only names)."""
        return self._types.get(qualified, {})

    def default(self, table: TablePolicy, column: str) -> exp.Expr | None:
        """The constant a column gets when an INSERT leaves it out (``NULL`` when it has no
        default); ``None`` when that is unknown or not a constant."""
        defaults = self._defaults.get(table.qualified)
        if defaults is None:
            return None
        if column not in defaults:
            return exp.Null()
        return defaults[column]

    def type_names(self) -> frozenset[str]:
        """The type names of the known columns, lower case, without quotes, modifiers or array
        brackets (``text``, ``numeric``, ``mood``, ``public.mood``): enums, domains and extension
        types among them are the types a cast may name besides the built-in ones."""
        if self._type_names is None:
            self._type_names = frozenset(
                _TYPE_DECORATION.sub("", text).strip().lower()
                for types in self._types.values()
                for text in types.values()
            )
        return self._type_names

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


def missing_tables(policies: PolicySet, schema: Schema) -> list[str]:
    """The tables the policies name that the database does not have (``schema.name``)."""
    return [t.qualified for t in policies.tables.values() if not schema.knows(t.schema, t.name)]


def _qualified(key: str, default_schema: str) -> str:
    schema, _, name = key.rpartition(".")
    return f"{schema or default_schema}.{name}"


def _constant(text: str) -> exp.Expr | None:
    """A default written as a constant (``0``, ``'draft'::text``, ``false``), else ``None``."""
    try:
        node: exp.Expr | None = dialect_of("postgres").parse(text)[0]
    except (SqlglotError, IndexError):
        return None
    while isinstance(node, exp.Cast | exp.Paren):
        node = node.this
    if isinstance(node, exp.Literal | exp.Boolean | exp.Null):
        return node
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        return node
    return None
