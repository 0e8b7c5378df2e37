"""The relations a query reads from, by the name they are known by in that query.

A small, explicit stand-in for scope resolution where rules need it: which FROM and JOIN items
(including parenthesised join trees, UPDATE ... FROM and DELETE ... USING) a query has, under
which alias, and which query a column's qualifier refers to.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from rowgate.rls.names import ident_name

QUERY_NODES = (exp.Select, exp.Update, exp.Delete, exp.Insert)
#: What stands between a relation and the query that lists it (a tuple: ``isinstance`` with a
#: ``|`` union built on every call costs more, and ``owner_of`` runs for every table).
_LISTING = (exp.Join, exp.From, exp.Table)


def relations(query: exp.Expr) -> list[exp.Expr]:
    """FROM, JOIN, LATERAL and USING items of ``query``, in order, nested join trees flattened."""
    items: list[exp.Expr] = []
    from_ = query.args.get("from_")
    if from_ is not None:
        items.append(from_.this)
    items.extend(join.this for join in query.args.get("joins") or [])
    items.extend(query.args.get("laterals") or [])
    if isinstance(query, exp.Delete):
        items.extend(query.args.get("using") or [])
    index = 0
    while index < len(items):
        items.extend(join.this for join in items[index].args.get("joins") or [])
        index += 1
    return items


def alias_of(node: exp.Expr, dialect: Dialect) -> str:
    """The name ``node`` is known by in its query (alias, else table name)."""
    alias = node.args.get("alias")
    if isinstance(alias, exp.TableAlias) and alias.this is not None:
        return ident_name(alias.this, dialect)
    if isinstance(node, exp.Table):
        return ident_name(node.this, dialect) if isinstance(node.this, exp.Identifier) else ""
    return ""


def enclosing_query(node: exp.Expr) -> exp.Expr | None:
    """The nearest SELECT (or DML statement) around ``node``."""
    parent = node.parent
    while parent is not None and not isinstance(parent, QUERY_NODES):
        parent = parent.parent
    return parent


def owner_of(node: exp.Expr) -> exp.Expr | None:
    """The query whose FROM/JOIN/USING lists ``node`` (the query a relation belongs to)."""
    parent = node.parent
    while isinstance(parent, _LISTING) or (
        isinstance(parent, exp.Subquery) and not isinstance(parent.this, exp.Query)
    ):
        parent = parent.parent
    return parent if isinstance(parent, QUERY_NODES) else None


def qualifier_target(column: exp.Column, dialect: Dialect) -> exp.Expr | None:
    """The relation a qualified column's qualifier names, looking outwards from the column."""
    qualifier = ident_name(column.args.get("table"), dialect)
    query = enclosing_query(column)
    while query is not None:
        for relation in relations(query):
            if alias_of(relation, dialect) == qualifier:
                return relation
        if isinstance(query, exp.Update | exp.Delete | exp.Insert):
            target: exp.Expr = query.this.this if isinstance(query.this, exp.Schema) else query.this
            if alias_of(target, dialect) == qualifier:
                return target
        query = enclosing_query(query)
    return None
