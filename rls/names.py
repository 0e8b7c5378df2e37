"""Identifier names the way the database resolves them.

PostgreSQL folds unquoted identifiers to lower case and keeps quoted ones as written; other
dialects fold to upper case or ignore case altogether.  Every comparison of a table, column or CTE
name in ``rls`` goes through ``fold`` so that ``Tasks``, ``tasks`` and ``"tasks"`` meet where the
database would make them meet, and ``"Tasks"`` does not.

Policy files and schemas name things in plain text: ``tasks``, ``public.tasks`` or, for names
that need it, ``"Odd Name"``; ``parse_name`` reads that form.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect, NormalizationStrategy

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_PART = r'(?:[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"]|"")+")'
_NAME = re.compile(rf"^({_PART})(?:\.({_PART}))?$")

#: Schemas and name prefixes of the system catalogs: never readable through rowgate.
CATALOG_SCHEMAS = frozenset({"pg_catalog", "information_schema", "pg_toast"})

#: Identifiers rowgate writes into rewritten SQL start with this; callers may not use it.
RESERVED_PREFIX = "rowgate_"


@lru_cache(maxsize=64)
def dialect_of(name: str) -> Dialect:
    """The sqlglot dialect called ``name`` (raises ``ValueError`` for an unknown one)."""
    return Dialect.get_or_raise(name)


def fold(text: str, quoted: bool, dialect: Dialect) -> str:
    """``text`` as the database stores the name (case folded unless quoted, per dialect)."""
    return _folder_of(dialect)(text, quoted)


def folder(dialect: Dialect) -> Callable[[str, bool], str]:
    """``fold`` for one dialect, as a function of the text and whether it is quoted."""
    return _folder_of(dialect)


def _folder_of(dialect: Dialect) -> Callable[[str, bool], str]:
    entry = _FOLDERS.get(id(dialect))
    if entry is None or entry[0] is not dialect:
        entry = _FOLDERS[id(dialect)] = (dialect, _folder(dialect))
    return entry[1]


def _folder(dialect: Dialect) -> Callable[[str, bool], str]:
    # One small function per case, so that folding a name is a single call (it runs for every
    # name of every statement rewritten).
    strategy = dialect.normalization_strategy
    if strategy is NormalizationStrategy.CASE_SENSITIVE:
        return lambda text, quoted: text
    upper = strategy in (NormalizationStrategy.UPPERCASE, NormalizationStrategy.CASE_INSENSITIVE_UPPERCASE)
    case = str.upper if upper else str.lower
    if dialect.ASCII_ONLY_NORMALIZATION:
        table = _ASCII_UPPER if upper else _ASCII_LOWER
        # An ASCII name folds the same with ``str.lower``/``upper``, which is several times
        # faster than ``translate`` with a table; only other names need the table.
        change: Callable[[str], str] = lambda text: case(text) if text.isascii() else text.translate(table)  # noqa: E731
    else:
        change = case
    if strategy in (NormalizationStrategy.CASE_INSENSITIVE, NormalizationStrategy.CASE_INSENSITIVE_UPPERCASE):
        return lambda text, quoted: change(text)
    return lambda text, quoted: text if quoted else change(text)


_FOLDERS: dict[int, tuple[Dialect, Callable[[str, bool], str]]] = {}


def ident_name(node: exp.Expr | None, dialect: Dialect) -> str:
    """The folded name of an identifier node (empty for ``None``)."""
    if node is None:
        return ""
    entry = _FOLDERS.get(id(dialect))
    folder = entry[1] if entry is not None and entry[0] is dialect else _folder_of(dialect)
    if isinstance(node, exp.Identifier):
        return folder(node.this, node.quoted)
    return folder(node.name, False)


def parse_name(text: str, dialect: Dialect) -> tuple[str | None, str] | None:
    """``"name"`` or ``"schema.name"`` (parts optionally double-quoted) as folded parts; ``None``
    when ``text`` is not such a name."""
    match = _NAME.match(text.strip())
    if not match:
        return None
    parts = [_unquote(part, dialect) for part in match.groups() if part is not None]
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])


def parse_column(text: str, dialect: Dialect) -> str | None:
    """A single (unqualified) column name, folded; ``None`` when ``text`` is not one."""
    parsed = parse_name(text, dialect)
    if parsed is None or parsed[0] is not None:
        return None
    return parsed[1]


def is_catalog(schema: str | None, name: str) -> bool:
    """Whether ``schema.name`` is a system catalog (or a name PostgreSQL resolves to one)."""
    if schema is not None:
        return schema.lower() in CATALOG_SCHEMAS or schema.lower().startswith("pg_")
    return name.lower().startswith("pg_")


#: How a dialect spells an unquoted name once it is quoted (``None``: as written).
Speller = Callable[[str], str] | None


def speller(dialect: Dialect) -> Speller:
    """How rowgate writes an unquoted name once it quotes it: folded where the dialect folds
    unquoted names (PostgreSQL: lower case); ``None`` (as written) where the dialect ignores
    case even in quoted names (SQLite, DuckDB: the result keeps the caller's column labels) or
    never folds (MySQL).  Either way the quoted name resolves to what the unquoted one did."""
    if dialect.normalization_strategy not in _FOLDING:
        return None
    folder = _folder_of(dialect)
    return lambda text: folder(text, False)


_FOLDING = frozenset({NormalizationStrategy.LOWERCASE, NormalizationStrategy.UPPERCASE})


def quoted(name: str) -> exp.Identifier:
    """An identifier that names exactly ``name`` (quoted, so no folding applies)."""
    return exp.Identifier(this=name, quoted=True)


def _unquote(part: str, dialect: Dialect) -> str:
    if part.startswith('"'):
        return fold(part[1:-1].replace('""', '"'), True, dialect)
    return fold(part, False, dialect)
