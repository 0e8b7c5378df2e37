"""List what the statement does to each table, for the caller's table permissions.

Every base table the statement names is read, except the target of a write, which is written:
INSERT creates, UPDATE updates, DELETE deletes, and INSERT ... ON CONFLICT DO UPDATE creates
and updates.  A target named again elsewhere (an UPDATE's own table in its FROM or a subquery,
an INSERT ... SELECT from its own table) is read as well.  The target's own WHERE and RETURNING
belong to the write.  The operations are listed by permission resource (``tasks``, or
``app.tasks`` outside the policy file's schema) before any rule adds reads of its own, and travel
with the cached template, so that checking them costs no parsing.
"""

from __future__ import annotations

from sqlglot import exp

from rowgate.rls.context import Inputs, rule
from rowgate.rls.findings import Findings, Resolution, Statement, TableOperations
from rowgate.rls.policy import ACTIONS
from rowgate.rls.rules.guard_upsert import does_update


@rule(reads=(Statement, Resolution), writes=TableOperations)
def list_operations(expression: exp.Expr, inputs: Inputs, found: Findings) -> exp.Expr:
    """Find the actions the statement takes on each table it names."""
    statement, resolution = found.statement, found.resolution
    written = _written(expression, statement.kind)
    target = resolution.target
    operations: dict[str, set[str]] = {}
    for table_id, policy in resolution.policies.items():
        actions = operations.setdefault(inputs.policies.resource(policy), set())
        if target is not None and table_id == id(target):
            actions.update(written)
        else:
            actions.add(ACTIONS["select"])
    pairs = sorted((resource, action) for resource, acts in operations.items() for action in acts)
    found.add(TableOperations(tuple(pairs)))
    return expression


def _written(expression: exp.Expr, kind: str) -> set[str]:
    if kind == "select":
        return set()
    actions = {ACTIONS[kind]}
    conflict = expression.args.get("conflict") if isinstance(expression, exp.Insert) else None
    if conflict is not None and does_update(conflict):
        actions.add(ACTIONS["update"])
    return actions
