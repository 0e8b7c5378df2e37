"""Check the statement: exactly one SELECT, INSERT, UPDATE or DELETE, with nothing nested that
could write, lock, change settings or run a command.

The kind is decided from the parsed tree by allowlist.  sqlglot parses some commands into
opaque ``Command`` nodes and others (``ABORT``, ``LISTEN x``, ``SAVEPOINT a``) into plain
expressions that happen to parse; anything whose root is not an allowed statement is refused
and named by its first keyword.
"""

from __future__ import annotations

from sqlglot import exp

from rowgate.rls.context import Inputs, rule
from rowgate.rls.errors import QueryRefused
from rowgate.rls.findings import Census, Findings, Statement

ROOTS: dict[type[exp.Expr], str] = {
    exp.Select: "select",
    exp.Union: "select",
    exp.Intersect: "select",
    exp.Except: "select",
    exp.Values: "select",
    exp.Subquery: "select",
    exp.Insert: "insert",
    exp.Update: "update",
    exp.Delete: "delete",
}

#: Arguments a DML root may carry; anything else (MySQL's IGNORE, ORDER BY, LIMIT ...) is refused.
DML_ARGS = {
    "insert": {"this", "expression", "conflict", "returning", "default", "with_"},
    "update": {"this", "expressions", "from_", "where", "returning", "with_"},
    "delete": {"this", "using", "where", "returning", "with_"},
}

_NESTED = (
    (exp.DML, "data-modifying statements inside a query (such as writable CTEs) are not allowed"),
    (exp.Into, "SELECT INTO is not allowed"),
    (exp.Lock, "row locking clauses (FOR UPDATE, FOR SHARE) are not allowed"),
    (exp.Operator, "OPERATOR(...) syntax is not allowed"),
)


_STATEMENTS = {kind: Statement(kind) for kind in set(ROOTS.values())}


@rule(reads=(Census,), writes=Statement)
def check_statement(expression: exp.Expr, inputs: Inputs, found: Findings) -> exp.Expr:
    """Refuse anything but one allowed statement; find its kind."""
    census = found.census
    kind = ROOTS.get(type(expression))
    if kind is None or (isinstance(expression, exp.Subquery) and not isinstance(expression.this, exp.Query)):
        raise QueryRefused(
            f"statement type {inputs.statement_word} is not allowed", code="statement_not_allowed"
        )
    if kind in DML_ARGS:
        extra = sorted(
            k for k, v in expression.args.items() if v not in (None, False, []) and k not in DML_ARGS[kind]
        )
        if extra:
            raise QueryRefused(f"this form of {kind.upper()} is not supported ({', '.join(extra)})")
    for node in census.suspicious:
        _check_nested(node)
    found.add(_STATEMENTS[kind])
    return expression


def _check_nested(node: exp.Expr) -> None:
    for kind, message in _NESTED:
        if isinstance(node, kind):
            raise QueryRefused(message, code="statement_not_allowed")
    if isinstance(node, exp.DataType | exp.Dot):
        return
    raise QueryRefused(
        f"statement type {node.key.upper()} is not allowed inside a query", code="statement_not_allowed"
    )
