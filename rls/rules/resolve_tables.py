"""Resolve every table reference to its policy, or refuse the statement.

Each ``exp.Table`` of the statement is a CTE reference (renamed already), a table function
(``generate_series(...)``, whose function was checked), or a base table: a base table needs a
policy and known columns, and system catalogs are never readable.  Names are folded the way the
dialect folds them; a name without a schema is in the policy file's ``schema``.
"""

from __future__ import annotations

from types import MappingProxyType

from sqlglot import exp

from rowgate.rls.context import Inputs, rule
from rowgate.rls.errors import QueryRefused
from rowgate.rls.findings import Census, CteReferences, Findings, Resolution, Statement
from rowgate.rls.names import ident_name, is_catalog
from rowgate.rls.policy import TablePolicy

#: Table arguments a filtered read can carry over; anything else (hints, time travel, pivots
#: ...) is refused rather than dropped.
TABLE_ARGS = frozenset({"this", "db", "alias", "joins", "only", "sample", "laterals"})


@rule(reads=(Census, Statement, CteReferences), writes=Resolution)
def resolve_tables(expression: exp.Expr, inputs: Inputs, found: Findings) -> exp.Expr:
    """Map each base-table reference to its ``TablePolicy``; find the target of a write."""
    census, statement, ctes = found.census, found.statement, found.cte_references
    target = _target(expression) if statement.kind != "select" else None
    policies: dict[int, TablePolicy] = {}
    for table in census.tables:
        if not isinstance(table.this, exp.Identifier | exp.Func):
            # ROWS FROM (f(...), g(...)) is a table with functions but no name
            raise QueryRefused(
                f"this kind of FROM item is not supported ({_shape(table)}): call one function per FROM item",
                code="table_not_allowed",
            )
        if id(table) in ctes.ids or not isinstance(table.this, exp.Identifier):
            continue
        policies[id(table)] = _resolve(table, inputs)
    found.add(Resolution(MappingProxyType(policies), target))
    return expression


def _resolve(table: exp.Table, inputs: Inputs) -> TablePolicy:
    extra = sorted(k for k, v in table.args.items() if k not in TABLE_ARGS and v not in (None, False, []))
    if table.args.get("catalog"):
        raise QueryRefused("names with a database part are not allowed", code="table_not_allowed")
    schema = ident_name(table.args.get("db"), inputs.dialect) or None
    name = ident_name(table.this, inputs.dialect)
    shown = f"{schema}.{name}" if schema else name
    if is_catalog(schema, name):
        raise QueryRefused(
            f'system catalog "{shown}" is not readable through rowgate', code="table_not_allowed"
        )
    policy = inputs.policies.find(schema, name)
    if policy is None:
        known = inputs.schema.knows(schema or inputs.policies.schema, name)
        detail = f'table "{shown}" has no policy' if known else f'unknown table "{shown}" (it has no policy)'
        raise QueryRefused(detail, code="table_not_allowed")
    if extra:
        raise QueryRefused(f'table "{shown}": {", ".join(extra)} is not supported', code="table_not_allowed")
    if inputs.schema.columns(policy) is None:
        raise QueryRefused(
            f'the columns of table "{shown}" are unknown (give the rewriter a schema, or list them in '
            "columns.all)",
            code="table_not_allowed",
        )
    return policy


def _shape(table: exp.Table) -> str:
    return "ROWS FROM" if table.args.get("rows_from") else "a table without a name"


def _target(expression: exp.Expr) -> exp.Table:
    target = expression.this
    if isinstance(target, exp.Schema):
        target = target.this
    if not isinstance(target, exp.Table) or not isinstance(target.this, exp.Identifier):
        raise QueryRefused("the target of a write must be a table", code="table_not_allowed")
    return target
