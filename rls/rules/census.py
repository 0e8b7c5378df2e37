"""Census: one walk over the parsed statement that files every node later rules look at.

Rules that run before the tree changes (the checks, CTE renaming, table resolution) read these
lists instead of walking the tree again.  Nothing is decided here.

The walk looks each node's class up in a table, filled the first time a class is seen, instead
of testing the node against every kind in turn: it runs on every statement not yet cached.
"""

from __future__ import annotations

from sqlglot import exp

from rowgate.rls.context import Inputs, rule
from rowgate.rls.findings import Census, Findings

#: Nodes that have no business inside an allowed statement; check_statement refuses them.
SUSPICIOUS = (exp.DML, exp.DDL, exp.Into, exp.Lock, exp.Command, exp.Set, exp.Operator, exp.Transaction)

#: What the census does with each kind of node, tested in this order (the first match wins).
_ORDER: tuple[tuple[type[exp.Expr] | tuple[type[exp.Expr], ...], str], ...] = (
    (exp.Identifier, "identifiers"),
    (exp.Column, "columns"),
    (exp.Table, "tables"),
    (exp.Func, "functions"),
    ((exp.Parameter, exp.Placeholder), "parameters"),
    (exp.CTE, "ctes"),
    ((exp.DataType, exp.Dot), "suspicious"),
    (SUSPICIOUS, "nested"),  # suspicious below the root; the root is check_statement's
)
_KINDS: dict[type[exp.Expr], str] = {}


@rule(writes=Census)
def take_census(expression: exp.Expr, inputs: Inputs, found: Findings) -> exp.Expr:
    """File the statement's identifiers, tables, columns, functions, parameters and CTEs."""
    suspicious: list[exp.Expr] = []
    lists: dict[str, list[exp.Expr]] = {
        "identifiers": [],
        "columns": [],
        "tables": [],
        "functions": [],
        "parameters": [],
        "ctes": [],
        "suspicious": suspicious,
        "nested": suspicious,
    }
    kinds = _KINDS
    for node in expression.walk():
        kind = kinds.get(type(node))
        if kind is None:
            kind = _kind(type(node))
        if kind == "" or (kind == "nested" and node is expression):
            continue
        lists[kind].append(node)
    census = Census(
        tuple(lists["identifiers"]),  # type: ignore[arg-type]
        tuple(lists["tables"]),  # type: ignore[arg-type]
        tuple(lists["columns"]),  # type: ignore[arg-type]
        tuple(lists["functions"]),  # type: ignore[arg-type]
        tuple(lists["parameters"]),
        tuple(lists["ctes"]),  # type: ignore[arg-type]
        tuple(suspicious),
    )
    found.add(census)
    return expression


def _kind(cls: type[exp.Expr]) -> str:
    kind = next((name for types, name in _ORDER if issubclass(cls, types)), "")
    _KINDS[cls] = kind
    return kind
