"""Census: one walk over the parsed statement that files every node later rules look at.

Rules that run before the tree changes (the checks, CTE renaming, table resolution) read these
lists instead of walking the tree again.  Nothing is decided here, except that identifiers in
rowgate's reserved namespace are refused: rewritten SQL uses names starting with ``rowgate_``
(CTEs it renames, for one), and a caller's name there could impersonate them.
"""

from __future__ import annotations

from sqlglot import exp

from config.errors import QueryRefused
from rls.context import Context
from rls.names import RESERVED_PREFIX

#: Nodes that have no business inside an allowed statement; check_statement refuses them.
SUSPICIOUS = (exp.DML, exp.DDL, exp.Into, exp.Lock, exp.Command, exp.Set, exp.Operator, exp.Transaction)
_WANTED = (
    exp.Column,
    exp.Table,
    exp.Func,
    exp.Parameter,
    exp.Placeholder,
    exp.CTE,
    exp.DataType,
    exp.Dot,
    *SUSPICIOUS,
)


def take_census(expression: exp.Expr, ctx: Context) -> exp.Expr:
    """File the statement's tables, columns, functions, parameters and CTEs in ``ctx.census``."""
    census = ctx.census
    wanted = _WANTED + ((exp.Identifier,) if RESERVED_PREFIX in ctx.sql.lower() else ())
    for node in expression.find_all(*wanted):
        if isinstance(node, exp.Identifier):
            _check_reserved(node)
        elif isinstance(node, exp.Column):
            census.columns.append(node)
        elif isinstance(node, exp.Table):
            census.tables.append(node)
        elif isinstance(node, exp.Func):
            census.functions.append(node)
        elif isinstance(node, exp.Parameter | exp.Placeholder):
            census.parameters.append(node)
        elif isinstance(node, exp.CTE):
            census.ctes.append(node)
        elif isinstance(node, exp.DataType | exp.Dot) or (
            isinstance(node, SUSPICIOUS) and node is not expression
        ):
            census.suspicious.append(node)
    return expression


def _check_reserved(node: exp.Identifier) -> None:
    if node.this[:8].lower() == RESERVED_PREFIX:
        raise QueryRefused(
            f"names starting with {RESERVED_PREFIX} are reserved for rowgate, got {node.this}",
            code="reserved_name",
        )
