"""Confine UPDATE and DELETE to the rows the caller may change, as PostgreSQL row security does.

The target keeps its place (a write target cannot be a subquery) and the statement's WHERE
becomes::

    <using> AND <caller's leakproof conditions on the target>
        AND CASE WHEN <using> AND <those conditions again>
                 THEN CASE WHEN <the rest of the caller's WHERE> THEN <new-row checks> ELSE FALSE END
                 ELSE FALSE END

``<using>`` is the operation's predicate, AND-ed with the select predicate when the statement
reads the target's columns (in WHERE, SET values or RETURNING), as PostgreSQL does.  The CASE
keeps the caller's other conditions from ever being evaluated on a row the caller may not
touch: the security-barrier guarantee.  Leakproof conditions (``rls.pushdown``, and equalities
joining the target to another relation) stay outside as well, so indexes and joins still serve
them.  The new-row checks of an UPDATE (``rls.newrow``, through ``rls.raising``) run last, on
the rows actually being updated, so an UPDATE that matches nothing succeeds as it does natively;
an UPDATE cannot move a row out of the caller's reach, nor set its owner column to anyone but
the caller unless it writes as the tenant's admin (``rls.owners``).

A new value rowgate cannot judge before the statement runs (a bound parameter, arithmetic on
the row's columns) is judged by the database, on PostgreSQL: the policy's predicate over the
new row is the predicate with every assigned column replaced by its assignment, cast to the
column's type, as PostgreSQL computes the new row (``SET priority = $1`` under the filter
``priority < 5``: ``CAST($1 AS INT) < 5``).  Assignments that could give another value when
evaluated twice (function calls, subqueries) are refused instead.
"""

from __future__ import annotations

from sqlglot import exp

from rowgate.rls import raising
from rowgate.rls.clone import clone
from rowgate.rls.context import Inputs, TableRule, column_datatype, rule
from rowgate.rls.errors import WriteRefused
from rowgate.rls.findings import Census, Findings, Resolution, Statement, TargetGuard
from rowgate.rls.grants import Grant
from rowgate.rls.newrow import OLD, UNKNOWN, Value, evaluate
from rowgate.rls.owners import OWNER, owner_rule
from rowgate.rls.policy import TablePolicy
from rowgate.rls.pushdown import conjuncts, leakproof_column
from rowgate.rls.sources import alias_of
from rowgate.rls.writes import (
    column_of,
    fill_defaults,
    pin_target,
    refuse_denied,
    row_value,
    runtime_check,
    violation,
)

#: What this rule finds in a statement it has nothing to do with (one value: findings are
#: immutable).
_NOTHING = TargetGuard()


@rule(reads=(Census, Statement, Resolution), writes=TargetGuard)
def guard_target(expression: exp.Expr, inputs: Inputs, found: Findings) -> exp.Expr:
    """Add the USING predicate (and the CASE guard) to an UPDATE or DELETE."""
    census, statement, resolution = found.census, found.statement, found.resolution
    kind, target = statement.kind, resolution.target
    if kind not in ("update", "delete") or target is None:
        found.add(_NOTHING)
        return expression
    policy = resolution.policies[id(target)]
    grant = inputs.grant(policy, kind)
    refuse_denied(grant, inputs)
    reads = reads_target(expression, target, policy, census, inputs)
    readable = inputs.grant(policy, "select")
    both = reads and not implied(grant, readable)
    name = pin_target(target, policy, keep_alias=True, inputs=inputs)

    def using() -> exp.Expr:
        predicate = grant.predicate(name, inputs.values(policy))
        return (
            exp.and_(predicate, readable.predicate(name, inputs.values(policy)), copy=False)
            if both
            else predicate
        )

    where = expression.args.get("where")
    pushed, rest = _split(where.this, name, inputs) if where is not None else ([], [])
    checks = _new_row_checks(expression, grant, readable if reads else None, name, policy, inputs)
    guard = using()
    parts = [guard, *pushed]
    inner = _nest(rest, checks)
    if inner is not None:
        condition = exp.and_(using(), *(clone(p) for p in pushed), copy=False)
        parts.append(exp.Case(ifs=[exp.If(this=condition, true=inner)], default=exp.false()))
    expression.set("where", exp.Where(this=exp.and_(*parts, copy=False)))
    text = grant.describe() + (f" AND {readable.describe()} (it reads the table)" if both else "")
    described = TableRule(policy.qualified, name, kind, grant.groups, text)
    found.add(TargetGuard(guard, (described,)))
    return expression


def reads_target(
    expression: exp.Expr, target: exp.Table, policy: TablePolicy, census: Census, inputs: Inputs
) -> bool:
    """Whether the statement reads the target's columns (beyond the columns it assigns)."""
    name = alias_of(target, inputs.dialect)
    columns = set(inputs.columns(policy))
    returning = expression.args.get("returning")
    if returning is not None and returning.find(exp.Star):
        return True
    for column in census.columns:
        if _assigned(column, expression):
            continue
        qualifier = column.args.get("table")
        if qualifier is not None:
            if column_of(qualifier, inputs) == name:
                return True
        elif column_of(column, inputs) in columns | {name}:
            return True
    return False


def implied(grant: Grant, other: Grant) -> bool:
    """Whether every row ``grant`` lets through also passes ``other`` (so ``other`` can be left
    out): same tenant rule, and each of ``grant``'s alternatives is one of ``other``'s."""
    if grant.denied or other.denied or (other.tenant is not None and other.tenant != grant.tenant):
        return False
    if not other.disjuncts:
        return True
    return bool(grant.disjuncts) and all(d in other.disjuncts for d in grant.disjuncts)


def _nest(rest: list[exp.Expr], checks: list[exp.Expr]) -> exp.Expr | None:
    """``rest`` then ``checks``, each evaluated only where the previous held."""
    inner = exp.and_(*checks, copy=False) if checks else None
    if not rest:
        return inner
    condition = exp.and_(*rest, copy=False)
    if inner is None:
        return condition
    return exp.Case(ifs=[exp.If(this=condition, true=inner)], default=exp.false())


def _assigned(column: exp.Column, statement: exp.Expr) -> bool:
    parent = column.parent
    if isinstance(parent, exp.Tuple):
        parent = parent.parent
    return (
        isinstance(parent, exp.EQ)
        and parent.parent is statement
        and parent.args.get("this") in (column, column.parent)
    )


def _split(condition: exp.Expr, name: str, inputs: Inputs) -> tuple[list[exp.Expr], list[exp.Expr]]:
    """The caller's leakproof conjuncts (safe on any row) and the rest."""
    pushed, rest = [], []
    for part in conjuncts(condition):
        if leakproof_column(part) is not None or _join_equality(part, name, inputs):
            pushed.append(part)
        else:
            rest.append(part)
    return pushed, rest


def _join_equality(part: exp.Expr, name: str, inputs: Inputs) -> bool:
    """``target.col = other.col``: a join condition between two plain columns, leakproof for the
    built-in types (an equality of two columns cannot fail on a row)."""
    if not isinstance(part, exp.EQ):
        return False
    sides = (part.this, part.expression)
    plain = all(
        isinstance(s, exp.Column) and isinstance(s.this, exp.Identifier) and s.args.get("table")
        for s in sides
    )
    if not plain:
        return False
    qualifiers = [column_of(s.args["table"], inputs) for s in sides]
    return qualifiers.count(name) == 1


def _new_row_checks(
    statement: exp.Expr, grant: Grant, readable: Grant | None, name: str, policy: TablePolicy, inputs: Inputs
) -> list[exp.Expr]:
    if not isinstance(statement, exp.Update):
        return []
    fill_defaults(statement.expressions, policy, inputs)
    values: dict[str, Value] = dict.fromkeys(inputs.columns(policy), OLD)
    for assignment in statement.expressions:
        for target, value in _pairs(assignment.this, assignment.expression):
            values[column_of(target, inputs)] = _assigned_value(column_of(target, inputs), value, inputs)
    column = policy.tenant_column or inputs.columns(policy)[0]
    found = []
    owner = owner_rule(policy, "update", inputs.signature)
    # A statement that sets the owner column, even to itself, names an owner: the rule (and the
    # native trigger, which fires on UPDATE OF the column) holds it to the caller.
    owned = policy.owner_column
    sets_owner = owned is not None and any(
        column_of(target, inputs) == owned
        for assignment in statement.expressions
        for target, _ in _pairs(assignment.this, assignment.expression)
    )
    owner_values = {**values, owned: UNKNOWN} if sets_owner and owned and values.get(owned) is OLD else values
    for checked, operation, seen in (
        (grant, "update", values),
        (readable, "select", values),
        (owner, OWNER, owner_values),
    ):
        if checked is None:
            continue
        outcome = evaluate(checked, seen, True)
        check = (
            _new_row_predicate(statement, checked, policy, name, operation, column, inputs)
            if outcome is None and inputs.barrier
            else runtime_check(outcome, policy.name, operation, name, column, inputs)
        )
        if check is not None:
            found.append(check)
    return found


def _new_row_predicate(
    statement: exp.Update,
    checked: Grant,
    policy: TablePolicy,
    name: str,
    operation: str,
    column: str,
    inputs: Inputs,
) -> exp.Expr:
    """``TRUE`` for an updated row whose new values pass ``checked``, a failure otherwise: the
    predicate with each assigned column replaced by its assignment."""
    assigned: dict[str, exp.Expr | None] = {}
    for assignment in statement.expressions:
        for target, value in _pairs(assignment.this, assignment.expression):
            assigned[column_of(target, inputs)] = value
    types = inputs.schema.types(policy.qualified)
    predicate = checked.predicate(name, inputs.values(policy))
    for reference in list(predicate.find_all(exp.Column)):
        key = column_of(reference, inputs)
        if key not in assigned:
            continue  # unchanged: the new row holds the old value
        value, cast = assigned[key], column_datatype(types.get(key))
        if cast is None:
            raise WriteRefused(
                f"rowgate cannot check the updated row of {policy.name} against its {operation} "
                f"policy: the type of {key} is not known to it (it reads types from the database) "
                "or cannot be written as a cast, so set the column to a literal",
                code="write_refused",
            )
        if value is None or not _repeatable(value):
            raise WriteRefused(
                f"rowgate cannot check the updated row of {policy.name} against its {operation} "
                f"policy: set {key} to a literal, a parameter or arithmetic on the row's columns, "
                "not to function calls or subqueries",
                code="write_refused",
            )
        reference.replace(exp.Cast(this=clone(value), to=cast))
    return raising.unless(predicate, violation(policy.name, "updated", operation), name, column)


#: Nodes an assignment may consist of to be computed again in the check: the same inputs give
#: the same value (no function calls, no subqueries).
_REPEATABLE = (
    exp.Binary,
    exp.Unary,
    exp.Cast,
    exp.DataType,
    exp.DataTypeParam,
    exp.Literal,
    exp.Null,
    exp.Boolean,
    exp.Column,
    exp.Identifier,
    exp.Parameter,
)


def _repeatable(value: exp.Expr) -> bool:
    return all(
        isinstance(node, _REPEATABLE) and (not isinstance(node, exp.Func) or isinstance(node, exp.Cast))
        for node in value.walk()
    )


def _pairs(targets: exp.Expr, sources: exp.Expr) -> list[tuple[exp.Expr, exp.Expr | None]]:
    """(column, value) for ``col = value`` and ``(a, b) = (x, y)``; a value is ``None`` when the
    assignment takes it from a subquery or a row."""
    if not isinstance(targets, exp.Tuple):
        return [(targets, sources)]
    values = sources.expressions if isinstance(sources, exp.Tuple) else []
    if len(values) != len(targets.expressions):
        return [(t, None) for t in targets.expressions]
    return list(zip(targets.expressions, values, strict=True))


def _assigned_value(name: str, value: exp.Expr | None, inputs: Inputs) -> Value:
    if value is None:
        return UNKNOWN
    if isinstance(value, exp.Column) and not value.args.get("table") and column_of(value, inputs) == name:
        return OLD
    return row_value(value, inputs)
