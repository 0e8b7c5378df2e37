"""Confine UPDATE and DELETE to the rows the caller may change, as PostgreSQL row security does.

The target keeps its place (a write target cannot be a subquery) and the statement's WHERE
becomes::

    <using> AND <caller's leakproof conditions on the target>
        AND CASE WHEN <using> THEN <the rest of the caller's WHERE> ELSE FALSE END

``<using>`` is the operation's predicate, AND-ed with the select predicate when the statement
reads the target's columns (in WHERE, SET values or RETURNING), as PostgreSQL does.  The CASE
keeps the caller's other conditions from ever being evaluated on a row the caller may not
touch, which is the security-barrier guarantee; leakproof conditions stay outside so indexes
still serve them.  New values are checked against the update (and select) policy by
``rls.newrow``: an UPDATE cannot move a row out of the caller's reach.
"""

from __future__ import annotations

from sqlglot import exp

from rls.context import Context, TableRule
from rls.grants import Grant
from rls.newrow import OLD, UNKNOWN, Value, evaluate
from rls.pushdown import conjuncts, leakproof_column
from rls.sources import alias_of, relations
from rls.writes import column_of, pin_target, refuse_denied, require, row_value


def guard_target(expression: exp.Expr, ctx: Context) -> exp.Expr:
    """Add the USING predicate (and the CASE guard) to an UPDATE or DELETE."""
    if ctx.kind not in ("update", "delete") or ctx.target is None:
        return expression
    policy = ctx.resolved[id(ctx.target)]
    grant = ctx.grant(policy, ctx.kind)
    refuse_denied(grant, ctx)
    reads = reads_target(expression, ctx)
    readable = ctx.grant(policy, "select")
    name = pin_target(ctx.target, policy, keep_alias=True)

    both = reads and not implied(grant, readable)

    def using() -> exp.Expr:
        predicate = grant.predicate(name, ctx.bind)
        return exp.and_(predicate, readable.predicate(name, ctx.bind), copy=False) if both else predicate

    guard = using()
    ctx.guards.append(guard)
    parts = [guard]
    where = expression.args.get("where")
    if where is not None:
        pushed, rest = _split(where.this, name, expression, ctx)
        parts.extend(pushed)
        if rest:
            case = exp.Case(ifs=[exp.If(this=using(), true=exp.and_(*rest, copy=False))], default=exp.false())
            parts.append(case)
    expression.set("where", exp.Where(this=exp.and_(*parts, copy=False)))
    if isinstance(expression, exp.Update):
        _check_new_values(expression, grant, readable if reads else None, ctx)
    rule = grant.describe() + (f" AND {readable.describe()} (it reads the table)" if both else "")
    ctx.rules.append(TableRule(policy.qualified, name, ctx.kind, grant.groups, rule))
    return expression


def reads_target(expression: exp.Expr, ctx: Context) -> bool:
    """Whether the statement reads the target's columns (beyond the columns it assigns)."""
    assert ctx.target is not None
    name = alias_of(ctx.target, ctx.dialect)
    columns = set(ctx.columns(ctx.resolved[id(ctx.target)]))
    returning = expression.args.get("returning")
    if returning is not None and returning.find(exp.Star):
        return True
    for column in ctx.census.columns:
        if _assigned(column, expression):
            continue
        qualifier = column.args.get("table")
        if qualifier is not None:
            if column_of(qualifier, ctx) == name:
                return True
        elif column_of(column, ctx) in columns | {name}:
            return True
    return False


def implied(grant: Grant, other: Grant) -> bool:
    """Whether every row ``grant`` lets through also passes ``other`` (so ``other`` can be left out)."""
    if grant.denied or other.denied or other.disjuncts:
        return False
    return other.tenant is None or other.tenant == grant.tenant


def _assigned(column: exp.Column, statement: exp.Expr) -> bool:
    parent = column.parent
    if isinstance(parent, exp.Tuple):
        parent = parent.parent
    return (
        isinstance(parent, exp.EQ)
        and parent.parent is statement
        and parent.args.get("this") in (column, column.parent)
    )


def _split(
    condition: exp.Expr, name: str, statement: exp.Expr, ctx: Context
) -> tuple[list[exp.Expr], list[exp.Expr]]:
    alone = not relations(statement)
    pushed, rest = [], []
    for part in conjuncts(condition):
        column = leakproof_column(part)
        qualifier = column.args.get("table") if column is not None else None
        if (
            column is not None and (column_of(qualifier, ctx) == name if qualifier else alone)
        ) or _join_equality(part, name, ctx):
            pushed.append(part)
        else:
            rest.append(part)
    return pushed, rest


def _join_equality(part: exp.Expr, name: str, ctx: Context) -> bool:
    """``target.col = other.col``: a join condition between two plain columns, leakproof for the
    built-in types (an equality of two columns cannot fail on a row)."""
    if not isinstance(part, exp.EQ):
        return False
    sides = (part.this, part.expression)
    if not all(
        isinstance(s, exp.Column) and isinstance(s.this, exp.Identifier) and s.args.get("table")
        for s in sides
    ):
        return False
    qualifiers = [column_of(s.args["table"], ctx) for s in sides]
    return qualifiers.count(name) == 1


def _check_new_values(update: exp.Update, grant: Grant, readable: Grant | None, ctx: Context) -> None:
    values: dict[str, Value] = dict.fromkeys(ctx.columns(ctx.resolved[id(ctx.target)]), OLD)
    for assignment in update.expressions:
        for column, value in _pairs(assignment.this, assignment.expression):
            values[column_of(column, ctx)] = _assigned_value(column_of(column, ctx), value, ctx)
    table = ctx.resolved[id(ctx.target)].name
    require(evaluate(grant, values, True), _message(table, "update", values), ctx)
    if readable is not None:
        require(evaluate(readable, values, True), _message(table, "select", values), ctx)


def _pairs(targets: exp.Expr, sources: exp.Expr) -> list[tuple[exp.Expr, exp.Expr | None]]:
    """(column, value) for ``col = value`` and ``(a, b) = (x, y)``; a value is ``None`` when the
    assignment takes it from a subquery or a row."""
    if not isinstance(targets, exp.Tuple):
        return [(targets, sources)]
    values = sources.expressions if isinstance(sources, exp.Tuple) else []
    if len(values) != len(targets.expressions):
        return [(t, None) for t in targets.expressions]
    return list(zip(targets.expressions, values, strict=True))


def _assigned_value(name: str, value: exp.Expr | None, ctx: Context) -> Value:
    if value is None:
        return UNKNOWN
    if isinstance(value, exp.Column) and not value.args.get("table") and column_of(value, ctx) == name:
        return OLD
    return row_value(value, ctx)


def _message(table: str, policy: str, values: dict[str, Value]) -> str:
    changed = sorted(c for c, v in values.items() if v is not OLD)
    return (
        f"the new row of {table} would not pass its {policy} policy (or rowgate cannot prove it does): "
        f"set {', '.join(changed)} only to literal values allowed for you"
    )
