"""Rename CTEs to reserved names, and every reference that resolves to one.

A name in FROM is a CTE when a WITH in scope defines it, exactly as PostgreSQL resolves it: the
WITH of the query the reference stands in (or of any query around it), with a non-recursive
WITH's item seeing only the items before it and a recursive one seeing all of them; a
schema-qualified name, and the target of an INSERT, UPDATE or DELETE, is never a CTE.

Renaming makes the outcome of a mistake here safe.  A reference taken for a CTE now names
``rowgate_cte_<n>``, which either is that CTE or does not exist (an error), never a real table;
a reference not taken for a CTE is filtered like any table read.  The original name stays as
the alias, so column references keep working, and the verifier accepts an unfiltered table
reference only when it names a ``rowgate_cte_`` relation.

This is deliberately not sqlglot's ``optimizer.scope``: that resolves CTEs by raw name (so
``WITH "Foo" ... FROM Foo`` would look like a CTE reference although PostgreSQL reads the table
``foo``) unless the whole tree is normalised first, and a security decision should not depend
on every table position being one the optimizer's traversal visits.  Here every ``exp.Table``
of the statement is classified, and names are folded the way the dialect folds them.
"""

from __future__ import annotations

from sqlglot import exp

from rowgate.rls.context import Inputs, rule
from rowgate.rls.findings import Census, CteReferences, Findings
from rowgate.rls.names import ident_name, quoted

CTE_PREFIX = "rowgate_cte_"


#: What this rule finds in a statement it has nothing to do with (one value: findings are
#: immutable).
_NOTHING = CteReferences()


@rule(reads=(Census,), writes=CteReferences)
def rename_ctes(expression: exp.Expr, inputs: Inputs, found: Findings) -> exp.Expr:
    """Give each CTE a reserved name and point its references at it."""
    census = found.census
    if not census.ctes:
        found.add(_NOTHING)
        return expression
    names = {id(cte): f"{CTE_PREFIX}{index}" for index, cte in enumerate(census.ctes, start=1)}
    defined = {ident_name(cte.args["alias"].this, inputs.dialect) for cte in census.ctes}
    targets = _dml_targets(expression)
    references = set()
    for table in census.tables:
        if id(table) in targets or table.args.get("db") or not isinstance(table.this, exp.Identifier):
            continue
        name = ident_name(table.this, inputs.dialect)
        if name not in defined:
            continue  # no CTE anywhere has this name: a table, wherever it stands
        cte = resolve_cte(table, name, inputs)
        if cte is not None:
            _point_at(table, names[id(cte)])
            references.add(id(table))
    for cte in census.ctes:
        alias = cte.args["alias"]
        alias.set("this", quoted(names[id(cte)]))
    found.add(CteReferences(frozenset(references)))
    return expression


def resolve_cte(table: exp.Table, name: str, inputs: Inputs) -> exp.CTE | None:
    """The CTE that ``name`` at ``table``'s position refers to, if any."""
    child: exp.Expr = table
    node = table.parent
    while node is not None:
        if isinstance(node, exp.With):
            items = node.expressions
            position = next(i for i, item in enumerate(items) if item is child)
            found = _find(items if node.args.get("recursive") else items[:position], name, inputs)
        else:
            with_ = node.args.get("with_")
            found = (
                _find(with_.expressions, name, inputs) if with_ is not None and with_ is not child else None
            )
        if found is not None:
            return found
        child, node = node, node.parent
    return None


def _find(items: list[exp.Expr], name: str, inputs: Inputs) -> exp.CTE | None:
    for item in items:
        if isinstance(item, exp.CTE) and ident_name(item.args["alias"].this, inputs.dialect) == name:
            return item
    return None


def _point_at(table: exp.Table, name: str) -> None:
    original = table.this
    table.set("this", quoted(name))
    if not table.args.get("alias"):
        table.set("alias", exp.TableAlias(this=original))


def _dml_targets(expression: exp.Expr) -> set[int]:
    if not isinstance(expression, exp.Insert | exp.Update | exp.Delete):
        return set()
    target = expression.this
    if isinstance(target, exp.Schema):
        target = target.this
    return {id(target)}
