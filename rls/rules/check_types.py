"""Check the types the statement names (casts, ``x::type``, typed literals).

A cast may name a built-in type, or a type that a column of a known table has (an enum, a
domain, an extension type such as ``citext``).  Everything else is refused (``type_not_allowed``):

- the catalog lookup types (``regclass``, ``regproc`` and friends), which read the catalogs;
- the row type of a table or any other composite type (``NULL::tasks``,
  ``jsonb_populate_record(NULL::rowgate.users, '{}')``, ``ROW(...)::record``): such a type names a
  table the row filters never see, reveals its columns, and yields values the data API cannot
  return;
- any other name sqlglot does not know as a type, since rowgate cannot tell what it is.

sqlglot knows most of PostgreSQL's built-in types; ``PLAIN_TYPES`` lists the scalar ones it
reads as user-defined names.
"""

from __future__ import annotations

from sqlglot import exp

from rowgate.rls.context import Inputs, rule
from rowgate.rls.errors import QueryRefused
from rowgate.rls.findings import Census, Findings
from rowgate.rls.names import ident_name

#: PostgreSQL's built-in scalar types that sqlglot does not know by name.
PLAIN_TYPES = frozenset(
    {
        "char",
        "varbit",
        "box",
        "cidr",
        "circle",
        "line",
        "lseg",
        "macaddr",
        "macaddr8",
        "path",
        "polygon",
        "tsquery",
        "tsvector",
        "jsonpath",
        "pg_lsn",
        "xid8",
    }
)


@rule(reads=(Census,))
def check_types(expression: exp.Expr, inputs: Inputs, found: Findings) -> exp.Expr:
    """Refuse casts to types that are not plain values of known kinds."""
    census = found.census
    for node in census.suspicious:
        if isinstance(node, exp.DataType):
            _check(node, inputs)
    return expression


def _check(node: exp.DataType, inputs: Inputs) -> None:
    if _catalog_type(node, inputs):
        raise QueryRefused(f"type {node.sql(inputs.dialect).lower()} is not allowed", code="type_not_allowed")
    if node.this != exp.DataType.Type.USERDEFINED:
        return
    name = _name(node.args.get("kind"), inputs)
    default = f"{inputs.policies.schema}."
    bare = name.removeprefix(default)
    known = inputs.schema.type_names()
    if bare in PLAIN_TYPES or bare in known or default + bare in known:
        return
    raise QueryRefused(
        f"type {name or node.sql(inputs.dialect)} is not allowed: a cast may name a built-in type or the "
        "type of a column of a served table, not a table's row type or another composite type",
        code="type_not_allowed",
    )


def _name(kind: object, inputs: Inputs) -> str:
    # "mood", or "public.mood" for a schema-qualified type
    if isinstance(kind, exp.Identifier):
        return ident_name(kind, inputs.dialect).lower()
    if isinstance(kind, exp.Dot):
        return ".".join(
            ident_name(i, inputs.dialect) for i in kind.dfs() if isinstance(i, exp.Identifier)
        ).lower()
    return str(kind or "").lower()


def _catalog_type(node: exp.DataType, inputs: Inputs) -> bool:
    # regclass, regproc, regtype, regrole, regnamespace ... look names up in the catalogs.
    name = node.sql(inputs.dialect).lower().replace('"', "").rsplit(".", 1)[-1]
    return name.startswith("reg")
