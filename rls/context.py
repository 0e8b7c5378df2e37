"""What the rewrite rules are given, and how they are declared and ordered.

A rule is a function ``(expression, inputs, found) -> expression``, as in sqlglot's optimizer,
declared with the findings it reads and the one it writes::

    @rule(reads=(Census, Statement, CteReferences), writes=Resolution)
    def resolve_tables(expression, inputs, found):
        census, statement, ctes = found.census, found.statement, found.cte_references
        ...
        found.add(Resolution(...))
        return expression

``Inputs`` is what the rewrite is given (policies, schema, dialect, the subject's signature, the
statement's text), frozen and the same for every rule.  ``Findings`` holds what the rules found
so far (``rls.findings``): immutable values, one per kind, each made whole and added once by the
one rule that declares it writes it, and read by the rules that declare they read it.
``in_order`` checks, when the pipeline is built, that every finding a rule reads is written by an
earlier rule, so the order that the rules depend on is stated and checked rather than remembered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from rowgate.rls.clone import clone
from rowgate.rls.fences import FENCES, Fence
from rowgate.rls.grants import Bind, Grant, grant
from rowgate.rls.names import quoted
from rowgate.rls.policy import PolicySet, TablePolicy
from rowgate.rls.schema import Schema
from rowgate.rls.subject import Signature

if TYPE_CHECKING:
    from rowgate.rls.findings import Findings

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


@dataclass(frozen=True, slots=True)
class Inputs:
    """What one rewrite is given, the same for every rule: the policies, schema and dialect, the
    subject's signature, the statement's text and how many parameters its caller binds.

    ``bind`` is the one tool here that changes: it numbers rowgate's own parameters in the order
    the rules ask for them, and the rewriter reads its slots at the end.
    """

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


#: ``(expression, inputs, found) -> expression``: a rule adds what it found to ``found``.
RuleFunction = Callable[[exp.Expr, "Inputs", "Findings"], exp.Expr]


@dataclass(frozen=True, slots=True)
class Rule:
    """One rewrite rule: its function, the findings it reads and the one it adds (if any)."""

    run: RuleFunction
    reads: tuple[type, ...] = ()
    writes: type | None = None

    @property
    def name(self) -> str:
        return self.run.__name__


def rule(reads: tuple[type, ...] = (), writes: type | None = None) -> Callable[[RuleFunction], Rule]:
    """Declare a function as a rule that reads the findings ``reads`` and writes ``writes``."""

    def declare(run: RuleFunction) -> Rule:
        return Rule(run, reads, writes)

    return declare


def in_order(*rules: Rule) -> tuple[Rule, ...]:
    """``rules`` as a pipeline, once checked: every finding a rule reads is written by an earlier
    rule, and no finding is written by two rules.  Raises ``ValueError`` naming the first
    rule out of order."""
    written: dict[type, str] = {}
    for each in rules:
        missing = [kind.__name__ for kind in each.reads if kind not in written]
        if missing:
            raise ValueError(f"rule {each.name} reads {', '.join(missing)} before any rule writes it")
        if each.writes is not None:
            if each.writes in written:
                first = written[each.writes]
                raise ValueError(f"rules {first} and {each.name} both write {_name(each.writes)}")
            written[each.writes] = each.name
    return rules


def _name(kind: type | None) -> str:
    return "nothing" if kind is None else kind.__name__


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
