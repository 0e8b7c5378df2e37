"""INSERT ... ON CONFLICT DO UPDATE: the existing row must be one the caller may update and see.

PostgreSQL raises an error when the conflicting row fails the update (or select) policy instead
of silently skipping it, and so does the rewritten statement: the DO UPDATE's WHERE becomes

    CASE WHEN <update and select predicates on the existing row> THEN <caller's WHERE, or TRUE>
         ELSE CAST('rowgate: ...' || SUBSTRING(CAST(<existing column> AS TEXT), 1, 0) AS BOOLEAN) END

The ELSE branch fails with an ``invalid input syntax for type boolean`` error whose text starts
with ``rowgate:`` (``rls.execute`` turns it into ``WriteRefused``); reading a column of the
existing row keeps the planner from evaluating it ahead of time, and taking none of its
characters keeps the row's content out of the message.  The caller's own WHERE never runs on a
row it may not see.  The new values are checked like an UPDATE's (``rls.newrow``).  This needs
PostgreSQL semantics, so other dialects refuse DO UPDATE.
"""

from __future__ import annotations

from sqlglot import exp

from config.errors import QueryRefused
from rls.context import Context, TableRule
from rls.names import quoted
from rls.newrow import OLD, Value, bound, evaluate
from rls.writes import column_of, refuse_denied, require, row_value

RAISE_MARKER = "rowgate: "


def guard_upsert(expression: exp.Expr, ctx: Context) -> exp.Expr:
    """Guard the existing row of ON CONFLICT DO UPDATE and check the values it sets."""
    if not isinstance(expression, exp.Insert) or ctx.target is None:
        return expression
    conflict = expression.args.get("conflict")
    if conflict is None or not _does_update(conflict):
        return expression
    if not ctx.barrier:
        raise QueryRefused(f"ON CONFLICT DO UPDATE is supported on PostgreSQL only, not {ctx.dialect_name}")
    policy = ctx.resolved[id(ctx.target)]
    grant, readable = ctx.grant(policy, "update"), ctx.grant(policy, "select")
    refuse_denied(grant, ctx)
    alias = ctx.target.args.get("alias")
    name = alias.this.name if alias is not None else policy.name
    existing = exp.and_(grant.predicate(name, ctx.bind), readable.predicate(name, ctx.bind), copy=False)
    where = conflict.args.get("where")
    allowed = where.this if where is not None else exp.true()
    failure = _failure(policy.name, name, (policy.tenant_column or ctx.columns(policy)[0]))
    conflict.set(
        "where", exp.Where(this=exp.Case(ifs=[exp.If(this=existing, true=allowed)], default=failure))
    )
    ctx.guards.append(existing)
    values = _new_values(expression, conflict, ctx)
    message = (
        f"the row ON CONFLICT DO UPDATE writes to {policy.name} would not pass its update or select policy"
    )
    require(evaluate(grant, values, True), message, ctx)
    require(evaluate(readable, values, True), message, ctx)
    ctx.rules.append(
        TableRule(policy.qualified, name, "update", grant.groups, grant.describe() + " (on conflict)")
    )
    return expression


def _does_update(conflict: exp.Expr) -> bool:
    action = conflict.args.get("action")
    return action is not None and "UPDATE" in action.name.upper()


def _failure(table: str, qualifier: str, column: str) -> exp.Expr:
    message = (
        f"{RAISE_MARKER}the existing row is not one this caller may update (row-level policy of {table})"
    )
    source = exp.Cast(
        this=exp.Column(this=quoted(column), table=quoted(qualifier)), to=exp.DataType.build("text")
    )
    empty = exp.Substring(this=source, start=exp.Literal.number(1), length=exp.Literal.number(0))
    text = exp.DPipe(this=exp.Literal.string(message), expression=empty, safe=True)
    return exp.Cast(this=text, to=exp.DataType.build("boolean"))


def _new_values(insert: exp.Insert, conflict: exp.Expr, ctx: Context) -> dict[str, Value]:
    policy = ctx.resolved[id(ctx.target)]
    values: dict[str, Value] = dict.fromkeys(ctx.columns(policy), OLD)
    for assignment in conflict.expressions:
        column = column_of(assignment.this, ctx)
        value = assignment.expression
        if (
            isinstance(value, exp.Column)
            and column_of(value.args.get("table") or exp.to_identifier(""), ctx) == "excluded"
        ):
            excluded = column_of(value, ctx)
            values[column] = (
                bound("tenant") if excluded == policy.tenant_column else _proposed(insert, excluded, ctx)
            )
        else:
            values[column] = row_value(value, ctx)
    return values


def _proposed(insert: exp.Insert, column: str, ctx: Context) -> Value:
    source = insert.expression
    target = insert.this
    if isinstance(source, exp.Values) and len(source.expressions) == 1 and isinstance(target, exp.Schema):
        names = [column_of(i, ctx) for i in target.expressions]
        if column in names:
            return row_value(source.expressions[0].expressions[names.index(column)], ctx)
    return ("unknown",)
