"""Which of the caller's conditions may run before the row filter: the leakproof ones.

A filtered read is an optimisation fence (``OFFSET 0``), so the caller's conditions run only on
rows the filter let through: a condition that can fail (a cast, a division, a function) can
never fail because of a row the caller may not see.  The price would be that indexes on the
caller's conditions go unused, so plain comparisons of one of the table's columns with a value
are moved inside the fence, next to the filter, where the planner can use an index for them.

"Plain" is syntactic and deliberately narrow: ``col <op> value`` with ``=, <>, <, <=, >, >=``,
``col [NOT] IN (values)``, ``col IS [NOT] NULL``, ``col [NOT] BETWEEN value AND value`` and
``col [NOT] LIKE 'pattern'`` where a value is a literal, NULL, a boolean or a parameter.  The
value is converted to the column's type when the statement is parsed, not row by row, and the
built-in comparison operators do not fail on stored values, so such a condition cannot raise
an error that depends on a row.  (PostgreSQL marks a few of them, such as ``LIKE`` and
``numeric =``, as not leakproof because they could fail on unusual input; a literal pattern
that does not end in an escape character cannot.)
"""

from __future__ import annotations

from sqlglot import exp

_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
_VALUES = (exp.Literal, exp.Null, exp.Boolean, exp.Parameter, exp.Placeholder)


def conjuncts(condition: exp.Expr) -> list[exp.Expr]:
    """The top-level AND-ed parts of ``condition``, in order (parentheses around an AND looked
    through).  Iterative: a WHERE of thousands of conditions is a deep tree."""
    parts: list[exp.Expr] = []
    stack = [condition]
    while stack:
        node = stack.pop()
        while isinstance(node, exp.Paren) and isinstance(node.this, exp.And):
            node = node.this
        if isinstance(node, exp.And):
            stack.extend((node.expression, node.this))
        else:
            parts.append(node)
    return parts


def leakproof_column(condition: exp.Expr) -> exp.Column | None:
    """The one plain column a leakproof comparison reads, or ``None`` if it is not one."""
    node = condition
    while isinstance(node, exp.Not | exp.Paren):
        node = node.this
    column: exp.Expr | None = None
    if isinstance(node, _COMPARISONS):
        if _is_value(node.expression):
            column = node.this
        elif _is_value(node.this):
            column = node.expression
    elif isinstance(node, exp.In):
        values = node.expressions
        if (
            values
            and not node.args.get("query")
            and not node.args.get("unnest")
            and all(map(_is_value, values))
        ):
            column = node.this
    elif isinstance(node, exp.Is) and isinstance(node.expression, exp.Null | exp.Boolean):
        column = node.this
    elif isinstance(node, exp.Between):
        if _is_value(node.args.get("low")) and _is_value(node.args.get("high")):
            column = node.this
    elif isinstance(node, exp.Like) and _safe_pattern(node.expression):
        column = node.this
    return column if isinstance(column, exp.Column) and _is_plain(column) else None


def _is_plain(node: exp.Expr | None) -> bool:
    return (
        isinstance(node, exp.Column)
        and isinstance(node.this, exp.Identifier)
        and not node.args.get("db")
        and not node.args.get("catalog")
    )


def _is_value(node: exp.Expr | None) -> bool:
    if isinstance(node, exp.Neg):
        node = node.this
        return isinstance(node, exp.Literal) and not node.is_string
    return isinstance(node, _VALUES)


def _safe_pattern(node: exp.Expr) -> bool:
    if not isinstance(node, exp.Literal) or not node.is_string:
        return False
    text = node.this
    trailing = len(text) - len(text.rstrip("\\"))
    return trailing % 2 == 0
