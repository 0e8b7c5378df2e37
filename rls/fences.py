"""Fences: what keeps the caller's conditions off the rows a filter leaves out, per dialect.

A filtered read (``rls.rules.filter_reads``) is a subquery whose WHERE holds the policy's
predicate.  A planner that merges the subquery into the outer query, or copies the caller's
conditions into it, may evaluate a caller's condition on a row *before* the policy's predicate
rejects it; a condition that fails (a cast, an overflow, a subquery returning two rows) then
fails because of a row the caller may not see, and the error is an oracle on other tenants'
data (a title recovered in a few hundred requests through SQLite's ``abs()`` overflow, when an
index served the caller's condition).

Each dialect rowgate rewrites for ends its filters in something its planner does not look
through:

- PostgreSQL: ``OFFSET 0``.  A subquery with OFFSET is never pulled up and no condition is
  pushed into it (the security-barrier trick of PostgreSQL's own documentation).
- SQLite: ``LIMIT <max> OFFSET 0``.  The query flattener never flattens a subquery with OFFSET,
  and the push-down optimisation never pushes a condition into a subquery with LIMIT: both rules
  look at the clauses' presence, in every SQLite version.  (A ``MATERIALIZED`` CTE is a planner
  hint, and a syntax error before SQLite 3.35.)
- MySQL (and MariaDB): ``LIMIT 18446744073709551615``, the documented "every row".  A derived
  table with LIMIT is materialised, not merged, and receives no pushed-down condition (MySQL 8's
  derived condition pushdown and MariaDB's condition pushdown both stop at LIMIT).
- DuckDB: ``LIMIT <max>``.  A filter is never moved below a LIMIT, which would change the rows
  the LIMIT keeps.

A LIMIT of every row leaves the result alone, but no planner may push a condition through a
LIMIT without proving it cannot change which rows the LIMIT keeps.  Other dialects have no fence
rowgate trusts: a rewriter for them is refused.  The tests run hostile conditions against real
SQLite, MariaDB and DuckDB with and without another tenant's rows, and require the same outcome.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from rowgate.errors import ConfigError

_MAX_SIGNED = "9223372036854775807"
_MAX_UNSIGNED = "18446744073709551615"


@dataclass(frozen=True, slots=True)
class Fence:
    """How a dialect's filtered subquery ends: a LIMIT (``None``: none) and/or ``OFFSET 0``."""

    limit: str | None
    offset: bool

    def put(self, select: exp.Select) -> None:
        """End ``select`` in this fence (a LIMIT it already has is kept: it fences too)."""
        if self.limit is not None and select.args.get("limit") is None:
            select.set("limit", exp.Limit(expression=_number(self.limit)))
        if self.offset:
            select.set("offset", exp.Offset(expression=_number("0")))

    def holds(self, select: exp.Expr) -> bool:
        """Whether ``select`` still ends in this fence."""
        limit, offset = select.args.get("limit"), select.args.get("offset")
        if self.offset and (offset is None or not _is(offset.expression, "0")):
            return False
        return self.limit is None or (
            limit is not None and isinstance(limit.expression, exp.Literal) and not limit.expression.is_string
        )


FENCES: dict[str, Fence] = {
    "postgres": Fence(None, offset=True),
    "sqlite": Fence(_MAX_SIGNED, offset=True),
    "mysql": Fence(_MAX_UNSIGNED, offset=False),
    "duckdb": Fence(_MAX_SIGNED, offset=False),
}


def fence_for(dialect: str) -> Fence:
    """The fence of ``dialect``; ``ConfigError`` for a dialect rowgate cannot fence."""
    found = FENCES.get(dialect)
    if found is None:
        raise ConfigError(
            [
                f"rowgate cannot confine SQL in the {dialect} dialect: it knows no way to keep that "
                "planner from running a caller's condition on other tenants' rows before the row "
                f"filter; use one of {', '.join(sorted(FENCES))}"
            ]
        )
    return found


def _number(text: str) -> exp.Literal:
    return exp.Literal(this=text, is_string=False)


def _is(node: exp.Expr, text: str) -> bool:
    return isinstance(node, exp.Literal) and not node.is_string and node.this == text
