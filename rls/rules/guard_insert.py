"""Make INSERT leave only rows the insert policy lets through (PostgreSQL's WITH CHECK).

The tenant column, when the statement does not set it (or sets it to DEFAULT), is set to the
caller's tenant, and the owner column to the caller's user id (NULL for a guest bound by the
owner rule): the same values the column defaults of the native export (``rls.export``) give.
Values the statement gives for them, and for columns the group filters read, are checked by
``rls.newrow`` against the insert policy and the owner rule (``rls.owners``: a caller who does
not insert as the tenant's admin cannot name another owner): literals are compared with the
caller's values when they are bound.  RETURNING reads the new rows back, so they must also pass
the select policy.  Writes to hidden columns were refused by check_columns.

A new row rowgate cannot evaluate (a bound parameter, an expression, a column of INSERT ...
SELECT) is checked by the database instead, on the rows actually inserted: the policy's
predicate over the new row goes into RETURNING (``guard_new_rows`` places it) and fails the
statement, through ``rls.raising``, for any row that does not pass.  That needs PostgreSQL and
an INSERT without ON CONFLICT (PostgreSQL checks the proposed row there, inserted or not);
otherwise such a row is refused with a message saying how to write it.
"""

from __future__ import annotations

from sqlglot import exp

from rowgate.rls import raising
from rowgate.rls.context import Inputs, TableRule, rule
from rowgate.rls.errors import QueryRefused
from rowgate.rls.findings import Findings, InsertGuard, Resolution
from rowgate.rls.grants import Grant, qualifies
from rowgate.rls.names import quoted
from rowgate.rls.newrow import UNKNOWN, Value, evaluate
from rowgate.rls.owners import OWNER, owner_rule
from rowgate.rls.policy import TablePolicy
from rowgate.rls.rules.guard_new_rows import hosts_checks
from rowgate.rls.writes import column_of, is_default, pin_target, refuse_denied, require, row_value, violation

#: What this rule finds in a statement it has nothing to do with (one value: findings are
#: immutable).
_NOTHING = InsertGuard()


@rule(reads=(Resolution,), writes=InsertGuard)
def guard_insert(expression: exp.Expr, inputs: Inputs, found: Findings) -> exp.Expr:
    """Fill and check the tenant and owner columns of an INSERT; check RETURNING's rows."""
    resolution = found.resolution
    target = resolution.target
    if not isinstance(expression, exp.Insert) or target is None:
        found.add(_NOTHING)
        return expression
    policy = resolution.policies[id(target)]
    grant = inputs.grant(policy, "insert")
    refuse_denied(grant, inputs)
    owner = owner_rule(policy, "insert", inputs.signature)
    filled: list[tuple[str, str | None]] = []
    if grant.tenant:
        filled.append((grant.tenant, "tenant"))
    if policy.owner_column and (qualifies("self", inputs.signature) or owner is not None):
        filled.append((policy.owner_column, "user" if inputs.signature[1] else None))
    columns = _column_list(expression, bool(filled), policy, inputs)
    rows = _rows(expression)
    _require_one_value_per_column(columns, rows)
    for column, slot in filled:
        _fill(expression, columns, rows, column, slot, policy, inputs)
    name = pin_target(target, policy, keep_alias=False, inputs=inputs)
    table = policy.name
    checked = [(grant, "new", "insert")]
    if owner is not None:
        checked.append((owner, "new", OWNER))
    if expression.args.get("returning") is not None:
        checked.append((inputs.grant(policy, "select"), "new (RETURNING reads it back)", "select"))
    at_run_time = _run_time_checks(expression, inputs)
    later: dict[str, exp.Expr] = {}
    checks = []
    for values in _row_values(expression, columns, policy, inputs):
        for rules, row, operation in checked:
            outcome = evaluate(rules, values, False)
            if outcome is None and at_run_time:
                if operation not in later:
                    later[operation] = _new_row_check(rules, policy, name, row, operation, inputs)
            elif (check := require(outcome, table, row, operation)) is not None:
                checks.append(check)
    described = TableRule(policy.qualified, table, "insert", grant.groups, grant.describe())
    found.add(InsertGuard(tuple(checks), tuple(later.values()), (described,)))
    return expression


def _run_time_checks(insert: exp.Insert, inputs: Inputs) -> bool:
    """Whether rows rowgate cannot check may be checked by the database as they are inserted."""
    if not inputs.barrier or insert.args.get("conflict") is not None:
        return False
    returning = insert.args.get("returning")
    if returning is None:
        # rowgate adds a RETURNING list of its own, whose rows only its own runner drops.
        return inputs.bind.parametric
    return any(hosts_checks(item, expanding=True) for item in returning.expressions)


def _new_row_check(
    rules: Grant, policy: TablePolicy, name: str, row: str, operation: str, inputs: Inputs
) -> exp.Expr:
    """``TRUE`` for a new row that passes ``rules``, a failure naming the policy otherwise."""
    column = policy.tenant_column or inputs.columns(policy)[0]
    predicate = rules.predicate(name, inputs.values(policy))
    return raising.unless(predicate, violation(policy.name, row, operation), name, column)


def _column_list(insert: exp.Insert, filling: bool, policy: TablePolicy, inputs: Inputs) -> list[str]:
    """The target columns, written out when the statement leaves them implicit."""
    target = insert.this
    if isinstance(target, exp.Schema):
        return [column_of(identifier, inputs) for identifier in target.expressions]
    source = insert.expression
    if insert.args.get("default"):
        if not filling:
            return []
        count = 0
    elif isinstance(source, exp.Values) and source.expressions:
        count = len(source.expressions[0].expressions)
    else:
        raise QueryRefused("name the columns of an INSERT ... SELECT: INSERT INTO t (a, b) SELECT ...")
    names = list(inputs.columns(policy)[:count])
    insert.set("this", exp.Schema(this=target, expressions=[quoted(n) for n in names]))
    return names


def _rows(insert: exp.Insert) -> list[list[exp.Expr]] | None:
    source = insert.expression
    if insert.args.get("default") and isinstance(insert.this, exp.Schema):
        insert.set("default", None)
        insert.set("expression", exp.Values(expressions=[exp.Tuple(expressions=[])]))
        return [[]]
    if isinstance(source, exp.Values):
        return [list(row.expressions) if isinstance(row, exp.Tuple) else [row] for row in source.expressions]
    return None


def _require_one_value_per_column(columns: list[str], rows: list[list[exp.Expr]] | None) -> None:
    """Refuse VALUES rows with more or fewer values than the statement names columns (PostgreSQL
    would refuse them too; the rules below rely on each row lining up with the columns)."""
    if rows is None or not columns:
        return
    for row in rows:
        if len(row) != len(columns):
            raise QueryRefused(
                f"an INSERT row has {len(row)} value(s) for {len(columns)} column(s): "
                "give every VALUES row one value per named column"
            )


def _fill(
    insert: exp.Insert,
    columns: list[str],
    rows: list[list[exp.Expr]] | None,
    column: str,
    slot: str | None,
    policy: TablePolicy,
    inputs: Inputs,
) -> None:
    """Give ``column`` the subject's ``slot`` value (``None``: NULL) where the statement leaves
    it out or writes DEFAULT."""

    def value() -> exp.Expr:
        return inputs.value(slot, policy, column) if slot is not None else exp.Null()

    if column in columns:
        if rows is not None:
            index = columns.index(column)
            for row in rows:
                if is_default(row[index]):
                    row[index].replace(value())
        return
    columns.append(column)
    insert.this.append("expressions", quoted(column))
    source = insert.expression
    if isinstance(source, exp.Values):
        for row in source.expressions:
            row.append("expressions", value())
    elif isinstance(source, exp.Select):
        source.append("expressions", value())
    else:
        wrapper = exp.Select(
            expressions=[
                exp.Column(this=exp.Star(), table=quoted("rowgate_source")),
                value(),
            ],
            from_=exp.From(
                this=exp.Subquery(this=source, alias=exp.TableAlias(this=quoted("rowgate_source")))
            ),
        )
        insert.set("expression", wrapper)


def _row_values(
    insert: exp.Insert, columns: list[str], policy: TablePolicy, inputs: Inputs
) -> list[dict[str, Value]]:
    """Each new row, column by column: the values given, and the defaults of the others."""
    defaults: dict[str, Value] = {}
    for column in inputs.columns(policy):
        if column not in columns:
            default = inputs.schema.default(policy, column)
            defaults[column] = UNKNOWN if default is None else row_value(default, inputs)
    source = insert.expression
    if isinstance(source, exp.Values):
        return [
            {**defaults, **{c: row_value(v, inputs) for c, v in zip(columns, row.expressions, strict=False)}}
            for row in source.expressions
            if isinstance(row, exp.Tuple)
        ]
    values: dict[str, Value] = {**defaults, **dict.fromkeys(columns, UNKNOWN)}
    projections = list(source.expressions) if isinstance(source, exp.Select) else []
    stars = [i for i, p in enumerate(projections) if p.is_star]
    tail = projections[stars[-1] + 1 :] if stars else projections
    if stars or len(tail) == len(columns):
        for column, projection in zip(columns[len(columns) - len(tail) :], tail, strict=True):
            values[column] = row_value(projection.unalias(), inputs)
    return [values]
