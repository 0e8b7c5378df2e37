"""The state one rewrite carries from rule to rule.

Rules are ``(expression, context) -> expression`` functions.  The context holds what they read
(policies, schema, dialect, the subject's signature, how many parameters the caller binds) and
what they leave for later rules and for the verifier: the nodes found by the census, the tables
resolved to policies, the filters and write guards built (by object identity, which a caller's
SQL cannot forge), the checks to run when values are bound, and the description of each table
for ``explain``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from rowgate.rls.clone import clone
from rowgate.rls.fences import FENCES, Fence
from rowgate.rls.grants import Bind, Grant, grant
from rowgate.rls.names import quoted
from rowgate.rls.newrow import Check
from rowgate.rls.policy import PolicySet, TablePolicy
from rowgate.rls.schema import Schema
from rowgate.rls.subject import Signature

#: Dialects whose drivers bind ``$n`` parameters; the others get quoted literals.
PARAMETER_DIALECTS = frozenset({"postgres"})

#: Dialects in which rowgate names every table with its schema, so that ``search_path`` cannot
#: redirect a name.  Elsewhere a schema-qualified name means another database or an attached
#: file (SQLite, MySQL, DuckDB), so tables of the policy file's default schema are written
#: unqualified; no CTE can capture them (CTEs are renamed ``rowgate_cte_<n>``) and the verifier
#: recognises filters by identity, not by name.
SCHEMA_DIALECTS = frozenset({"postgres"})


@dataclass(frozen=True, slots=True)
class TableRule:
    """Which rule applied to one table reference (shown by ``explain``)."""

    table: str
    alias: str
    operation: str
    groups: tuple[str, ...]
    rule: str
    hidden: tuple[str, ...] = ()


class Binder:
    """Makes the node that stands for a subject value and remembers which value goes where.

    PostgreSQL gets a fresh ``$n`` per use, numbered after the caller's own parameters (one per
    use, so PostgreSQL infers each one's type from its own context).  Other dialects get a
    sentinel string literal that the template later replaces with the quoted value.
    """

    __slots__ = ("made", "nonce", "offset", "parametric", "slots")

    def __init__(self, parametric: bool, offset: int, nonce: str) -> None:
        self.parametric = parametric
        self.offset = offset
        self.nonce = nonce
        self.slots: list[str] = []
        self.made: dict[int, tuple[str, exp.Expr]] = {}

    def __call__(self, slot: str, cast: exp.DataType | None = None) -> exp.Expr:
        self.slots.append(slot)
        node: exp.Expr
        if self.parametric:
            number = exp.Literal(this=str(self.offset + len(self.slots)), is_string=False)
            node = exp.Parameter(this=number)
            if cast is not None:
                # Bound as text and converted by the database, so that drivers take the id as a
                # string whatever the column's type (asyncpg wants an int for a bigint $n).
                node = exp.Cast(this=exp.Cast(this=node, to=exp.DataType.build("text")), to=cast)
        else:
            node = exp.Literal.string(f"{self.nonce}{len(self.slots) - 1}")
        self.made[id(node)] = (slot, node)
        return node

    def slot_of(self, node: exp.Expr) -> str | None:
        """The slot a node made by this binder stands for (``None`` for any other node)."""
        made = self.made.get(id(node))
        return made[0] if made is not None and made[1] is node else None


@dataclass(eq=False)
class Census:
    """Nodes of the parsed statement by kind, collected in one walk before any rewriting."""

    identifiers: list[exp.Identifier] = field(default_factory=list)
    tables: list[exp.Table] = field(default_factory=list)
    columns: list[exp.Column] = field(default_factory=list)
    functions: list[exp.Func] = field(default_factory=list)
    parameters: list[exp.Expr] = field(default_factory=list)
    ctes: list[exp.CTE] = field(default_factory=list)
    suspicious: list[exp.Expr] = field(default_factory=list)


@dataclass(eq=False)
class Context:
    """Everything one rewrite knows and produces besides the tree itself."""

    policies: PolicySet
    schema: Schema
    dialect: Dialect
    dialect_name: str
    signature: Signature
    params_count: int
    bind: Binder
    sql: str = ""
    #: Where the statement's string tokens start (``'...'``, ``$$...$$``, ``E'...'`` ...).
    strings: frozenset[int] = frozenset()
    kind: str = "select"
    census: Census = field(default_factory=Census)
    cte_refs: set[int] = field(default_factory=set)
    resolved: dict[int, TablePolicy] = field(default_factory=dict)
    target: exp.Table | None = None
    filters: dict[int, tuple[exp.Table, exp.Expr]] = field(default_factory=dict)
    guards: list[exp.Expr] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    #: Conditions on an INSERT's new rows for the database to evaluate (``TRUE`` or a failure).
    row_checks: list[exp.Expr] = field(default_factory=list)
    #: Whether the statement returns rows only for rowgate's own checks (drop them).
    discard_rows: bool = False
    rules: list[TableRule] = field(default_factory=list)
    #: What the statement does to each table, by permission resource: ``{"tasks": {"read"}}``.
    operations: dict[str, set[str]] = field(default_factory=dict)

    def grant(self, table: TablePolicy, operation: str) -> Grant:
        """The subject's grant of ``operation`` on ``table``."""
        return grant(table, operation, self.signature)

    def value(self, slot: str, table: TablePolicy, column: str) -> exp.Expr:
        """The node for the subject's ``slot`` value compared with, or written to, ``column``."""
        return self.bind(slot, _cast_to(self.schema.types(table.qualified).get(column)))

    def values(self, table: TablePolicy) -> Bind:
        """``value`` for the columns of ``table``, in the form ``Grant.predicate`` takes."""
        return lambda slot, column: self.value(slot, table, column)

    def columns(self, table: TablePolicy) -> tuple[str, ...]:
        """The table's columns (resolution has already refused tables without known columns)."""
        return self.schema.columns(table) or ()

    @property
    def statement_word(self) -> str:
        """The statement's first keyword (``COPY``, ``LISTEN`` ...), to name what was refused."""
        try:
            tokens = self.dialect.tokenize(self.sql)
        except Exception:  # any tokenizer failure: fall back to the plain text
            tokens = []
        if tokens:
            return str(tokens[0].text).upper()[:40]
        words = self.sql.split()
        return words[0].upper()[:40] if words else "(empty)"

    def schema_of(self, table: TablePolicy) -> exp.Identifier | None:
        """The schema part of the name rowgate writes for ``table`` (``None``: unqualified)."""
        if self.dialect_name in SCHEMA_DIALECTS or table.schema != self.policies.schema:
            return quoted(table.schema)
        return None

    @property
    def barrier(self) -> bool:
        """Whether the statement runs with PostgreSQL's semantics (run-time checks that fail
        through a cast, ON CONFLICT DO UPDATE, ordered reads limited inside their filter)."""
        return self.dialect_name in PARAMETER_DIALECTS

    @property
    def fence(self) -> Fence:
        """How filtered reads end in this dialect (``rls.fences``; the rewriter refuses a
        dialect without one)."""
        return FENCES[self.dialect_name]


Rule = Callable[[exp.Expr, Context], exp.Expr]

#: Column types a driver binds from a string as they are; others get ``CAST($n::text AS type)``.
_STRING_TYPES = ("uuid", "text", "character", "varchar", "citext", "name")


def _cast_to(column_type: str | None) -> exp.DataType | None:
    if column_type is None or column_type.lower().startswith(_STRING_TYPES):
        return None
    return column_datatype(column_type)


def column_datatype(column_type: str | None) -> exp.DataType | None:
    """A fresh node for a PostgreSQL column type name; ``None`` when there is none or sqlglot
    cannot read it."""
    if not column_type:
        return None
    built = _built_type(column_type)
    return None if built is None else clone(built)


@lru_cache(maxsize=256)
def _built_type(column_type: str) -> exp.DataType | None:
    # Built once per type name (building parses it); each use gets its own copy.
    try:
        return exp.DataType.build(column_type, dialect="postgres")
    except Exception:  # a type sqlglot cannot read
        return None
