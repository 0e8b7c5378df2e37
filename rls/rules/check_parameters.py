"""Check the caller's parameters.

On PostgreSQL the caller binds ``$1 .. $n`` and rowgate appends its own after them, so a
statement may only use ``$1`` to ``$params_count``: a higher number would reach rowgate's
values, and other placeholder styles (``?``, ``:name``) are not PostgreSQL.  Other dialects
pass their placeholders through untouched (the upstream binds them).
"""

from __future__ import annotations

from sqlglot import exp

from rowgate.rls.context import Context
from rowgate.rls.errors import QueryRefused


def check_parameters(expression: exp.Expr, ctx: Context) -> exp.Expr:
    """Refuse parameters the caller does not bind."""
    if not ctx.bind.parametric:
        return expression
    for node in ctx.census.parameters:
        number = _number(node)
        if number is None:
            raise QueryRefused(
                f"parameters must be written $1, $2, ... (got {node.sql(ctx.dialect)})", code="bad_parameter"
            )
        if not 1 <= number <= ctx.params_count:
            raise QueryRefused(
                f"the statement uses ${number} but {ctx.params_count} parameter(s) were given",
                code="bad_parameter",
            )
    return expression


def _number(node: exp.Expr) -> int | None:
    if not isinstance(node, exp.Parameter):
        return None
    inner = node.this
    if isinstance(inner, exp.Literal) and not inner.is_string and inner.this.isdigit():
        return int(inner.this)
    return None
