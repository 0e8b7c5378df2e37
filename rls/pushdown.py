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

For the same reason an ordered single-table read may sort and limit inside the fence
(``ordered_limit``): ordering by plain columns and counting rows evaluates nothing that can fail.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from rowgate.rls.clone import clone
from rowgate.rls.names import ident_name, quoted

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


_WRAPPERS = (exp.Not, exp.Paren)


def leakproof_column(condition: exp.Expr) -> exp.Column | None:
    """The one plain column a leakproof comparison reads, or ``None`` if it is not one."""
    node = condition
    while isinstance(node, _WRAPPERS):
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


#: Arguments of a SELECT whose ORDER BY and LIMIT may move inside its one table's filter: any
#: other (WHERE left outside, GROUP BY, DISTINCT, windows, joins ...) needs every row first.
_ORDERED_READ_ARGS = frozenset({"expressions", "from_", "order", "limit", "offset", "with_"})
_PLAIN_ITEMS = (exp.Column, exp.Star, exp.Literal, exp.Null, exp.Boolean, exp.Parameter)


def ordered_limit(
    query: exp.Select, name: str, visible: tuple[str, ...], inner: str, dialect: Dialect
) -> tuple[exp.Order, exp.Limit] | None:
    """An ``ORDER BY`` and ``LIMIT`` for the filter of ``query``'s one table (known as ``name``,
    read as ``inner`` inside the filter), when ``query`` is a single-table read that orders by
    plain visible columns and limits by constants or parameters; ``None`` otherwise.

    The filter's rows come out in the caller's order and only as many as the caller takes
    (``LIMIT n + m`` for ``LIMIT n OFFSET m``), so an index can serve the order; the query itself
    keeps its ORDER BY, LIMIT and OFFSET, so the answer is one the original query could give.
    """
    order, limit, offset = query.args.get("order"), query.args.get("limit"), query.args.get("offset")
    if order is None or not isinstance(limit, exp.Limit) or not _only(query, _ORDERED_READ_ARGS):
        return None
    if not _plain_list(query):
        return None
    count = _bound(limit)
    skipped = _bound(offset) if offset is not None else None
    if count is None or (offset is not None and skipped is None):
        return None
    items = [_ordered(item, query, name, visible, inner, dialect) for item in order.expressions]
    if not items or any(item is None for item in items):
        return None
    total = count if skipped is None else _sum(count, skipped)
    return exp.Order(expressions=items), exp.Limit(expression=total)


def _only(node: exp.Expr, keys: frozenset[str] | set[str]) -> bool:
    """Whether ``node`` has no argument set beyond ``keys``."""
    return all(key in keys or value in (None, False) or value == [] for key, value in node.args.items())


def _plain_list(query: exp.Select) -> bool:
    """Whether the select list only passes columns and values through (no function can change
    how many rows there are: aggregates, windows, set-returning functions)."""
    return all(
        isinstance(item.this if isinstance(item, exp.Alias) else item, _PLAIN_ITEMS)
        for item in query.expressions
    )


def _bound(clause: exp.Expr) -> exp.Expr | None:
    """The value of a ``LIMIT``/``OFFSET`` that is a number or a parameter (a fresh copy)."""
    if not _only(clause, {"expression"}):
        return None
    value = clause.args.get("expression")
    if isinstance(value, exp.Literal) and not value.is_string and value.this.isdigit():
        return exp.Literal(this=value.this, is_string=False)
    if isinstance(value, exp.Parameter | exp.Placeholder):
        return clone(value)
    return None


def _sum(count: exp.Expr, skipped: exp.Expr) -> exp.Expr:
    if isinstance(count, exp.Literal) and isinstance(skipped, exp.Literal):
        return exp.Literal(this=str(int(count.this) + int(skipped.this)), is_string=False)
    # PostgreSQL types a LIMIT or OFFSET parameter bigint; the sum must not leave it unknown.
    return exp.Add(this=_bigint(count), expression=_bigint(skipped))


def _bigint(value: exp.Expr) -> exp.Expr:
    if isinstance(value, exp.Literal):
        return value
    return exp.Cast(this=value, to=exp.DataType(this=exp.DataType.Type.BIGINT))


def _ordered(
    item: exp.Expr, query: exp.Select, name: str, visible: tuple[str, ...], inner: str, dialect: Dialect
) -> exp.Ordered | None:
    """The filter's copy of one ORDER BY item, if it is a plain visible column of the table."""
    if not isinstance(item, exp.Ordered) or not _only(item, {"this", "desc", "nulls_first"}):
        return None
    column = item.this
    if not _is_plain(column) or not isinstance(column, exp.Column):
        return None
    qualifier = column.args.get("table")
    column_name = ident_name(column.this, dialect)
    if qualifier is not None and ident_name(qualifier, dialect) != name:
        return None
    if qualifier is None and column_name in _output_aliases(query, dialect):
        return None  # ORDER BY names an output column first, which may be another expression
    if column_name not in visible:
        return None
    copy = exp.Ordered(this=exp.Column(this=quoted(column_name), table=quoted(inner)))
    for key in ("desc", "nulls_first"):
        if key in item.args:
            copy.set(key, item.args[key])
    return copy


def _output_aliases(query: exp.Select, dialect: Dialect) -> set[str]:
    return {ident_name(e.args["alias"], dialect) for e in query.expressions if isinstance(e, exp.Alias)}
