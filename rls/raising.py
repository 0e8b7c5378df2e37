"""SQL that fails on purpose, at run time, for a row the policy forbids.

PostgreSQL raises "new row violates row-level security policy" only for rows a write actually
touches: an UPDATE that matches nothing succeeds whatever it would have set.  To behave the
same, rowgate puts the check inside the statement, on the rows being written::

    CASE WHEN <check> THEN TRUE ELSE <failure> END

where ``<failure>`` casts a message to boolean, which fails with ``invalid input syntax for
type boolean: "rowgate: ..."``.  The cast reads a column of the row (and uses none of its
characters), so the planner cannot evaluate it ahead of time and its text reveals nothing of
the row.  ``proxy.data.execute`` turns the error into ``WriteRefused``.
"""

from __future__ import annotations

from sqlglot import exp

from rowgate.rls.context import Binder
from rowgate.rls.names import quoted
from rowgate.rls.newrow import Outcome

MARKER = "rowgate: "


def failure(message: str, qualifier: str, column: str) -> exp.Expr:
    """A boolean expression that fails with ``message`` when evaluated on a row."""
    source = exp.Cast(
        this=exp.Column(this=quoted(column), table=quoted(qualifier)), to=exp.DataType.build("text")
    )
    empty = exp.Substring(this=source, start=exp.Literal.number(1), length=exp.Literal.number(0))
    text = exp.DPipe(this=exp.Literal.string(MARKER + message), expression=empty, safe=True)
    return exp.Cast(this=text, to=exp.DataType.build("boolean"))


def unless(condition: exp.Expr, message: str, qualifier: str, column: str) -> exp.Expr:
    """``TRUE`` where ``condition`` holds, a run-time failure with ``message`` elsewhere."""
    return exp.Case(
        ifs=[exp.If(this=condition, true=exp.true())], default=failure(message, qualifier, column)
    )


def outcome_condition(outcome: Outcome, bind: Binder) -> exp.Expr:
    """A static check outcome as SQL: FALSE, TRUE, or ``'42' = $n`` conditions on bound values."""
    if outcome is None or not outcome:
        return exp.false()
    alternatives = []
    for conjunction in outcome:
        if not conjunction:
            return exp.true()
        parts = [
            exp.EQ(this=exp.Literal.string(literal), expression=bind(slot)) for slot, literal in conjunction
        ]
        alternatives.append(exp.and_(*parts, copy=False))
    return exp.or_(*alternatives, copy=False)
