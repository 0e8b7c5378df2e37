"""A policy's extra ``filters``: SQL boolean expressions over one table's own columns.

Filters are written by policy authors, not callers, but they run inside every filtered read, so
they are held to the same rules as caller SQL and to a few more: one boolean expression, columns
of the table itself only (``posts.status`` or ``status``), no subqueries, no parameters, no
aggregates or window functions, and functions from the allowlist.  Columns are stored
unqualified; the rewriter qualifies them with the table it filters.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError

from rowgate.rls.functions import FunctionPolicy
from rowgate.rls.names import ident_name, quoted

_BOOLEAN_ROOTS = (exp.Predicate, exp.Connector, exp.Not, exp.Boolean, exp.Column, exp.Func, exp.Paren)
_FORBIDDEN = (exp.Query, exp.Table, exp.Subquery, exp.Star, exp.Parameter, exp.Placeholder, exp.Command)


def compile_filter(
    text: str, table: str, dialect: Dialect, functions: FunctionPolicy
) -> tuple[exp.Expr | None, str | None]:
    """``(expression, None)`` for a valid filter on ``table``, else ``(None, problem)``."""
    parsed, problem = _parse(text, dialect)
    if parsed is None:
        return None, problem
    if not isinstance(parsed, _BOOLEAN_ROOTS):
        return None, f"expected a SQL boolean expression, got {text!r}"
    for node in parsed.walk():
        problem = _node_problem(node, table, dialect, functions)
        if problem:
            return None, f"{problem}, got {text!r}"
    for column in list(parsed.find_all(exp.Column)):
        column.set("this", quoted(ident_name(column.this, dialect)))
        column.set("table", None)
    return parsed, None


def _parse(text: str, dialect: Dialect) -> tuple[exp.Expr | None, str | None]:
    try:
        statements = dialect.parse(text)
    except SqlglotError:
        return None, f"expected a SQL boolean expression, got {text!r}, which does not parse"
    statements = [s for s in statements if s is not None]
    if len(statements) != 1:
        return None, f"expected one SQL boolean expression, got {text!r}"
    return statements[0], None


def _node_problem(node: exp.Expr, table: str, dialect: Dialect, functions: FunctionPolicy) -> str | None:
    if isinstance(node, exp.Query | exp.Subquery | exp.Table):
        return "filters may not read other tables or use subqueries"
    if isinstance(node, _FORBIDDEN):
        return "filters may not use *, parameters or commands"
    if isinstance(node, exp.AggFunc | exp.Window):
        return "filters may not use aggregate or window functions"
    if isinstance(node, exp.Column):
        qualifier = node.args.get("table")
        if node.args.get("db") or (qualifier is not None and ident_name(qualifier, dialect) != table):
            return f"filters may only use columns of table {table} ({node.sql(dialect)} is not one)"
    if isinstance(node, exp.Func):
        return functions.refusal(node)
    return None
