"""Check the caller's names, and spell them the way rowgate will print them.

sqlglot takes almost any token where a name may stand: after ``AS`` a string (``$$...$$``,
``$tag$...$tag$``, ``E'...'``, ``N'...'``, ``U&'...'``, ``'...'``) becomes a name whose text can
hold anything, commas and comments included.  Printed back, such a name is no longer one name:
``SELECT 1 AS $$x, org_id FROM tasks --$$`` was checked as a constant and would have run as a
read of every tenant's rows.  So a name must come from a name token:

- a name written as a string of any kind is refused (``bad_identifier``), wherever it stands;
- an unquoted name must look like one (a letter or ``_``, then letters, digits, ``_`` or ``$``);
  anything else reached the tree through a token that is not a name;
- names starting with ``rowgate_`` are reserved: rewritten SQL uses them (renamed CTEs, say),
  and a caller's name there could impersonate them (``reserved_name``).

Unquoted names are then spelt as the database resolves them (``rls.names.speller``): rowgate
prints every name quoted, and ``Title`` quoted must still name the column ``title`` on
PostgreSQL.  Only the spelling changes, never what a name resolves to, so the later rules see
the same tree.
"""

from __future__ import annotations

import re

from sqlglot import exp

from rowgate.rls.context import Inputs, rule
from rowgate.rls.errors import QueryRefused
from rowgate.rls.findings import Census, Findings
from rowgate.rls.names import RESERVED_PREFIX, speller

#: An unquoted name: what PostgreSQL, SQLite, MySQL and DuckDB all read as one identifier.
BARE_NAME = re.compile(r"[^\W\d][\w$]*")


@rule(reads=(Census,))
def check_names(expression: exp.Expr, inputs: Inputs, found: Findings) -> exp.Expr:
    """Refuse names that did not come from name tokens; fold unquoted ones for printing."""
    census = found.census
    strings, spell = inputs.strings, speller(inputs.dialect)
    reserved = RESERVED_PREFIX in inputs.sql.lower()
    for node in census.identifiers:
        text = node.this
        if not isinstance(text, str) or (strings and node.meta.get("start") in strings):
            _refuse(node, "written as a string")
        if not node.quoted:
            if not (text.isidentifier() or BARE_NAME.fullmatch(text)):
                _refuse(node, "not a plain name")
            if spell is not None and spell(text) != text:
                node.set("this", spell(text))
        if reserved and text[:8].lower() == RESERVED_PREFIX:
            raise QueryRefused(
                f"names starting with {RESERVED_PREFIX} are reserved for rowgate, got {text}",
                code="reserved_name",
            )
    return expression


def _refuse(node: exp.Identifier, why: str) -> None:
    meta = node.meta
    where = ""
    if "line" in meta and "col" in meta:
        # sqlglot's column is that of the token's last character
        column = meta["col"] - (meta.get("end", 0) - meta.get("start", 0))
        where = f" (line {meta['line']}, column {column})"
    raise QueryRefused(
        f"a name is {why}{where}: write names bare or in the dialect's identifier quotes "
        '(PostgreSQL: "name")',
        code="bad_identifier",
    )
