"""Refuse references to columns hidden from the caller, with a message that names them.

For reads this is a courtesy: filtered subqueries do not expose hidden columns at all, so a
reference the check misses still fails in the database.  For the target of an UPDATE, DELETE or
INSERT it is the protection itself, because a write target is not a subquery: any unqualified
name of a hidden column anywhere in the statement, any reference qualified by the target, a
whole-row reference to the target and ``target.*`` outside RETURNING are refused.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlglot import exp

from rowgate.rls.context import Inputs, rule
from rowgate.rls.errors import QueryRefused
from rowgate.rls.findings import Census, Findings, Resolution
from rowgate.rls.names import ident_name
from rowgate.rls.policy import TablePolicy
from rowgate.rls.sources import alias_of, enclosing_query, owner_of, qualifier_target, relations


@rule(reads=(Census, Resolution))
def check_columns(expression: exp.Expr, inputs: Inputs, found: Findings) -> exp.Expr:
    """Refuse statements that name columns hidden from the caller."""
    census, resolution = found.census, found.resolution
    target, policies = resolution.target, resolution.policies
    if target is not None:
        _check_target(expression, target, policies[id(target)], census, inputs)
    hidden = {id(t): h for t in census.tables if (h := _hidden(t, policies, inputs)) and t is not target}
    if not hidden:
        return expression
    names = frozenset().union(*hidden.values())
    for column in census.columns:
        name = column_name(column, inputs)
        if name not in names:
            continue
        if column.args.get("table") is not None:
            relation = qualifier_target(column, inputs.dialect)
            if relation is not None and name in hidden.get(id(relation), ()):
                _refuse(name, policies[id(relation)].name)
        else:
            _check_unqualified(column, name, hidden, policies, inputs)
    return expression


def _hidden(table: exp.Table, policies: Mapping[int, TablePolicy], inputs: Inputs) -> frozenset[str]:
    policy = policies.get(id(table))
    return inputs.grant(policy, "select").hidden if policy is not None else frozenset()


def _check_unqualified(
    column: exp.Column,
    name: str,
    hidden: dict[int, frozenset[str]],
    policies: Mapping[int, TablePolicy],
    inputs: Inputs,
) -> None:
    query = enclosing_query(column)
    if query is None or name in _output_names(query):
        return
    candidates = [r for r in relations(query) if owner_of(r) is query]
    hiding = [r for r in candidates if name in hidden.get(id(r), ())]
    if hiding and not any(_may_expose(policies.get(id(r)), name, inputs) for r in candidates):
        _refuse(name, policies[id(hiding[0])].name)


def _may_expose(policy: TablePolicy | None, name: str, inputs: Inputs) -> bool:
    if policy is None:
        return True
    return name in inputs.columns(policy) and name not in inputs.grant(policy, "select").hidden


def _output_names(query: exp.Expr) -> set[str]:
    return (
        {e.alias for e in query.expressions if isinstance(e, exp.Alias)}
        if isinstance(query, exp.Select)
        else set()
    )


def _check_target(
    expression: exp.Expr, target: exp.Table, policy: TablePolicy, census: Census, inputs: Inputs
) -> None:
    hidden = inputs.grant(policy, "select").hidden
    if not hidden:
        return
    alias = alias_of(target, inputs.dialect)
    columns = set(inputs.columns(policy))
    for column in census.columns:
        qualifier = column.args.get("table")
        if qualifier is not None:
            if ident_name(qualifier, inputs.dialect) != alias:
                continue
            if isinstance(column.this, exp.Star) and not _in_returning(column):
                raise QueryRefused(f"{alias}.* would include columns hidden from you", code="column_hidden")
        name = column_name(column, inputs)
        if qualifier is None and name == alias and name not in columns:
            raise QueryRefused(
                f"a whole-row reference to {alias} would include hidden columns", code="column_hidden"
            )
        if name in hidden:
            _refuse(name, policy.name)
    schema = expression.this if isinstance(expression, exp.Insert) else None
    if isinstance(schema, exp.Schema):
        for identifier in schema.expressions:
            if ident_name(identifier, inputs.dialect) in hidden:
                _refuse(ident_name(identifier, inputs.dialect), policy.name)


def column_name(column: exp.Column, inputs: Inputs) -> str:
    """The folded name of a column reference ("*" for a star)."""
    return ident_name(column.this, inputs.dialect) if isinstance(column.this, exp.Identifier) else "*"


def _in_returning(column: exp.Column) -> bool:
    return isinstance(column.parent, exp.Returning)


def _refuse(column: str, table: str) -> None:
    raise QueryRefused(f"column {column} of {table} is hidden from you", code="column_hidden")
