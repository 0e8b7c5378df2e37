"""Resolve every table reference to its policy, or refuse the statement.

Each ``exp.Table`` of the statement is a CTE reference (renamed already), a table function
(``generate_series(...)``, whose function was checked), or a base table: a base table needs a
policy and known columns, and system catalogs are never readable.  Names are folded the way the
dialect folds them; a name without a schema is in the policy file's ``schema``.
"""

from __future__ import annotations

from sqlglot import exp

from rowgate.rls.context import Context
from rowgate.rls.errors import QueryRefused
from rowgate.rls.names import ident_name, is_catalog

#: Table arguments a filtered read can carry over; anything else (hints, time travel, pivots
#: ...) is refused rather than dropped.
TABLE_ARGS = frozenset({"this", "db", "alias", "joins", "only", "sample", "laterals"})


def resolve_tables(expression: exp.Expr, ctx: Context) -> exp.Expr:
    """Map each base-table reference to its ``TablePolicy`` in ``ctx.resolved``."""
    target = _target(expression)
    for table in ctx.census.tables:
        if not isinstance(table.this, exp.Identifier | exp.Func):
            # ROWS FROM (f(...), g(...)) is a table with functions but no name
            raise QueryRefused(
                f"this kind of FROM item is not supported ({_shape(table)}): call one function per FROM item",
                code="table_not_allowed",
            )
        if id(table) in ctx.cte_refs or not isinstance(table.this, exp.Identifier):
            continue
        _resolve(table, ctx)
    if target is not None:
        ctx.target = target
    return expression


def _resolve(table: exp.Table, ctx: Context) -> None:
    extra = sorted(k for k, v in table.args.items() if k not in TABLE_ARGS and v not in (None, False, []))
    if table.args.get("catalog"):
        raise QueryRefused("names with a database part are not allowed", code="table_not_allowed")
    schema = ident_name(table.args.get("db"), ctx.dialect) or None
    name = ident_name(table.this, ctx.dialect)
    shown = f"{schema}.{name}" if schema else name
    if is_catalog(schema, name):
        raise QueryRefused(
            f'system catalog "{shown}" is not readable through rowgate', code="table_not_allowed"
        )
    policy = ctx.policies.find(schema, name)
    if policy is None:
        known = ctx.schema.knows(schema or ctx.policies.schema, name)
        detail = f'table "{shown}" has no policy' if known else f'unknown table "{shown}" (it has no policy)'
        raise QueryRefused(detail, code="table_not_allowed")
    if extra:
        raise QueryRefused(f'table "{shown}": {", ".join(extra)} is not supported', code="table_not_allowed")
    if ctx.schema.columns(policy) is None:
        raise QueryRefused(
            f'the columns of table "{shown}" are unknown (give the rewriter a schema, or list them in '
            "columns.all)",
            code="table_not_allowed",
        )
    ctx.resolved[id(table)] = policy


def _shape(table: exp.Table) -> str:
    return "ROWS FROM" if table.args.get("rows_from") else "a table without a name"


def _target(expression: exp.Expr) -> exp.Table | None:
    if not isinstance(expression, exp.Insert | exp.Update | exp.Delete):
        return None
    target = expression.this
    if isinstance(target, exp.Schema):
        target = target.this
    if not isinstance(target, exp.Table) or not isinstance(target.this, exp.Identifier):
        raise QueryRefused("the target of a write must be a table", code="table_not_allowed")
    return target
