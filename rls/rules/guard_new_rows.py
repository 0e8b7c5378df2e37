"""Put an INSERT's run-time new-row checks (``guard_insert``) where the database evaluates them
on every row it inserts: at the top level of RETURNING, once ``limit_returning`` has listed the
columns.

    RETURNING "tasks"."id", ...   →   RETURNING CASE WHEN <checks> THEN "tasks"."id" END AS "id", ...

Each check is ``TRUE`` or fails the statement, so the item keeps its value, type and name; a
top-level item is evaluated for every inserted row whatever the rest of the list does.  An
INSERT without RETURNING gets ``RETURNING <checks> AS rowgate_check``, and the statement is
marked so that its rows are dropped (``Rewritten.discard_rows``; ``proxy.data.execute`` does it).
"""

from __future__ import annotations

from sqlglot import exp

from rowgate.rls.clone import clone
from rowgate.rls.context import Inputs, rule
from rowgate.rls.errors import WriteRefused
from rowgate.rls.findings import Findings, InsertGuard, NewRowChecks, Resolution, Returning
from rowgate.rls.names import quoted
from rowgate.rls.writes import unverifiable

CHECK_COLUMN = "rowgate_check"


#: The finding when the statement's own rows are returned (one value: findings are immutable).
_ROWS_KEPT = NewRowChecks()


@rule(reads=(Resolution, InsertGuard, Returning), writes=NewRowChecks)
def guard_new_rows(expression: exp.Expr, inputs: Inputs, found: Findings) -> exp.Expr:
    """Attach the INSERT's run-time new-row checks to its RETURNING list."""
    resolution, insert, listed = found.resolution, found.insert_guard, found.returning
    row_checks = insert.row_checks
    if not row_checks:
        found.add(_ROWS_KEPT)
        return expression
    checks = exp.and_(*row_checks, copy=False)
    returning = expression.args.get("returning")
    if returning is None:
        alias = exp.Alias(this=checks, alias=quoted(CHECK_COLUMN))
        expression.set("returning", exp.Returning(expressions=[alias]))
        found.add(NewRowChecks(discard_rows=True))
        return expression
    items = list(listed.items)
    position = next((i for i, item in enumerate(items) if hosts_checks(item)), None)
    if position is None:  # RETURNING * of a table whose columns are all hidden
        assert resolution.target is not None
        policy = resolution.policies[id(resolution.target)].name
        raise WriteRefused(unverifiable(policy, "new", "insert"), code="write_refused")
    host = items[position]
    if isinstance(host, exp.Alias):
        host.set("this", _guarded(checks, host.this))
    else:
        items[position] = exp.Alias(this=_guarded(checks, host), alias=clone(host.this))
        returning.set("expressions", items)
    found.add(_ROWS_KEPT)
    return expression


def hosts_checks(item: exp.Expr, expanding: bool = False) -> bool:
    """Whether a RETURNING item can carry the checks without changing its name: a named item,
    or a plain column (which becomes ``CASE ... END AS <its name>``).  ``expanding``: before
    ``limit_returning``, when ``*`` still stands for the target's columns."""
    if isinstance(item, exp.Column):
        return isinstance(item.this, exp.Identifier) or expanding
    return isinstance(item, exp.Alias) or (expanding and isinstance(item, exp.Star))


def _guarded(checks: exp.Expr, value: exp.Expr) -> exp.Expr:
    return exp.Case(ifs=[exp.If(this=checks, true=value)])
