"""INSERT ... ON CONFLICT DO UPDATE: the existing row must be one the caller may update and see.

PostgreSQL raises an error when the conflicting row fails the update (or select) policy instead
of silently skipping it, and so does the rewritten statement: the DO UPDATE's WHERE becomes

    CASE WHEN <update and select predicates on the existing row>
         THEN <caller's WHERE> AND <new values pass the policies> ELSE <failure> END

with the failures of ``rls.raising``.  The caller's own WHERE never runs on a row it may not
see.  The new values are checked like an UPDATE's (``rls.newrow``, and the owner rule of
``rls.owners``), at run time, so only a row actually updated can fail.  This needs PostgreSQL
semantics, so other dialects refuse DO UPDATE.
"""

from __future__ import annotations

from sqlglot import exp

from rowgate.rls import raising
from rowgate.rls.context import Inputs, TableRule, rule
from rowgate.rls.errors import QueryRefused
from rowgate.rls.findings import Findings, Resolution, UpsertGuard
from rowgate.rls.names import ident_name
from rowgate.rls.newrow import OLD, UNKNOWN, Value, bound, evaluate
from rowgate.rls.owners import OWNER, owner_rule
from rowgate.rls.policy import TablePolicy
from rowgate.rls.writes import column_of, fill_defaults, refuse_denied, row_value, runtime_check

#: What this rule finds in a statement it has nothing to do with (one value: findings are
#: immutable).
_NOTHING = UpsertGuard()


@rule(reads=(Resolution,), writes=UpsertGuard)
def guard_upsert(expression: exp.Expr, inputs: Inputs, found: Findings) -> exp.Expr:
    """Guard the existing row of ON CONFLICT DO UPDATE and check the values it sets."""
    resolution = found.resolution
    target = resolution.target
    if not isinstance(expression, exp.Insert) or target is None:
        found.add(_NOTHING)
        return expression
    conflict = expression.args.get("conflict")
    if conflict is None or not does_update(conflict):
        found.add(_NOTHING)
        return expression
    if not inputs.barrier:
        raise QueryRefused(
            f"ON CONFLICT DO UPDATE is supported on PostgreSQL only, not {inputs.dialect_name}"
        )
    policy = resolution.policies[id(target)]
    grant, readable = inputs.grant(policy, "update"), inputs.grant(policy, "select")
    refuse_denied(grant, inputs)
    alias = target.args.get("alias")
    name = ident_name(alias.this, inputs.dialect) if alias is not None else policy.name
    column = policy.tenant_column or inputs.columns(policy)[0]
    bind = inputs.values(policy)
    existing = exp.and_(grant.predicate(name, bind), readable.predicate(name, bind), copy=False)
    where = conflict.args.get("where")
    values = _new_values(expression, conflict, policy, inputs)
    owner = owner_rule(policy, "update", inputs.signature)
    checks = [
        runtime_check(evaluate(g, values, True), policy.name, op, name, column, inputs)
        for g, op in ((grant, "update"), (readable, "select"), (owner, OWNER))
        if g is not None
    ]
    parts = [where.this] if where is not None else []
    parts += [check for check in checks if check is not None]
    allowed = exp.and_(*parts, copy=False) if parts else exp.true()
    message = f"the existing row is not one this caller may update (row-level policy of {policy.name})"
    case = exp.Case(ifs=[exp.If(this=existing, true=allowed)], default=raising.failure(message, name, column))
    conflict.set("where", exp.Where(this=case))
    described = TableRule(policy.qualified, name, "update", grant.groups, grant.describe() + " (on conflict)")
    found.add(UpsertGuard((described,)))
    return expression


def does_update(conflict: exp.Expr) -> bool:
    """Whether an ON CONFLICT clause updates the existing row (rather than doing nothing)."""
    action = conflict.args.get("action")
    return action is not None and "UPDATE" in action.name.upper()


def _new_values(
    insert: exp.Insert, conflict: exp.Expr, policy: TablePolicy, inputs: Inputs
) -> dict[str, Value]:
    fill_defaults(conflict.expressions, policy, inputs)
    values: dict[str, Value] = dict.fromkeys(inputs.columns(policy), OLD)
    for assignment in conflict.expressions:
        column = column_of(assignment.this, inputs)
        value = assignment.expression
        qualifier = value.args.get("table") if isinstance(value, exp.Column) else None
        if qualifier is not None and column_of(qualifier, inputs) == "excluded":
            excluded = column_of(value, inputs)
            values[column] = (
                bound("tenant") if excluded == policy.tenant_column else _proposed(insert, excluded, inputs)
            )
        else:
            values[column] = row_value(value, inputs)
    return values


def _proposed(insert: exp.Insert, column: str, inputs: Inputs) -> Value:
    source, target = insert.expression, insert.this
    if isinstance(source, exp.Values) and len(source.expressions) == 1 and isinstance(target, exp.Schema):
        names = [column_of(i, inputs) for i in target.expressions]
        if column in names:
            return row_value(source.expressions[0].expressions[names.index(column)], inputs)
    return UNKNOWN
