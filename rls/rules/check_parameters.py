"""Check the caller's parameters.

On PostgreSQL the caller binds ``$1 .. $n`` and rowgate appends its own after them, so a
statement may only use ``$1`` to ``$params_count``: a higher number would reach rowgate's
values, and other placeholder styles (``?``, ``:name``) are not PostgreSQL.  Other dialects
pass their placeholders through untouched (the upstream binds them).
"""

from __future__ import annotations

from sqlglot import exp

from rowgate.rls.context import Inputs, rule
from rowgate.rls.errors import QueryRefused
from rowgate.rls.findings import Census, Findings


@rule(reads=(Census,))
def check_parameters(expression: exp.Expr, inputs: Inputs, found: Findings) -> exp.Expr:
    """Refuse parameters the caller does not bind."""
    census = found.census
    if not inputs.bind.parametric:
        return expression
    for node in census.parameters:
        number = _number(node)
        if number is None:
            raise QueryRefused(
                f"parameters must be written $1, $2, ... (got {node.sql(inputs.dialect)})",
                code="bad_parameter",
            )
        if not 1 <= number <= inputs.params_count:
            raise QueryRefused(
                f"the statement uses ${number} but {inputs.params_count} parameter(s) were given",
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
