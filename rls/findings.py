"""What the rewrite rules find, each kind written by one rule and read by the rules after it.

Every finding is an immutable value (a named tuple: cheap to make on every statement), made whole
by the rule that owns it (``rls.context.Rule`` declares who writes and who reads what).  Nodes of
the tree are found by object identity (``id(node)``), which a caller's SQL cannot forge.

========================  ==================  ==============================================
finding                   written by          read by
========================  ==================  ==============================================
``Census``                take_census         the checks, rename_ctes, resolve_tables, ...
``Statement``             check_statement     resolve_tables, list_operations, guard_target, ...
``CteReferences``         rename_ctes         resolve_tables
``Resolution``            resolve_tables      list_operations, check_columns, the guards, ...
``TableOperations``       list_operations     the rewriter (table permissions)
``InsertGuard``           guard_insert        guard_new_rows, verify, the rewriter
``TargetGuard``           guard_target        verify, the rewriter (``explain``)
``UpsertGuard``           guard_upsert        the rewriter (``explain``)
``Returning``             limit_returning     guard_new_rows
``NewRowChecks``          guard_new_rows      the rewriter
``Filters``               filter_reads        verify, the rewriter (``explain``)
========================  ==================  ==============================================
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple, TypeVar

from sqlglot import exp

from rowgate.rls.context import TableRule
from rowgate.rls.newrow import Check
from rowgate.rls.policy import TablePolicy


class Census(NamedTuple):
    """Nodes of the parsed statement by kind, collected in one walk before any rewriting."""

    identifiers: tuple[exp.Identifier, ...] = ()
    tables: tuple[exp.Table, ...] = ()
    columns: tuple[exp.Column, ...] = ()
    functions: tuple[exp.Func, ...] = ()
    parameters: tuple[exp.Expr, ...] = ()
    ctes: tuple[exp.CTE, ...] = ()
    #: Nodes with no business in a plain read (casts' types, dots, nested statements ...).
    suspicious: tuple[exp.Expr, ...] = ()


class Statement(NamedTuple):
    """What the statement is: ``select``, ``insert``, ``update`` or ``delete``."""

    kind: str


class CteReferences(NamedTuple):
    """The table references that name a CTE (by ``id``), renamed to ``rowgate_cte_<n>``."""

    ids: frozenset[int] = frozenset()


class Resolution(NamedTuple):
    """The policy of each base-table reference (by ``id`` of its ``exp.Table``), and the target
    of an INSERT, UPDATE or DELETE."""

    policies: Mapping[int, TablePolicy]
    target: exp.Table | None = None


class TableOperations(NamedTuple):
    """What the statement does to each table, ``(resource, action)`` sorted: ``("tasks", "read")``."""

    pairs: tuple[tuple[str, str], ...] = ()


class InsertGuard(NamedTuple):
    """An INSERT's checks: those run when values are bound, those the database runs on each new
    row (``TRUE`` or a failure), and the rule shown by ``explain``."""

    checks: tuple[Check, ...] = ()
    row_checks: tuple[exp.Expr, ...] = ()
    rules: tuple[TableRule, ...] = ()


class TargetGuard(NamedTuple):
    """The predicate an UPDATE or DELETE's WHERE must keep as a top-level conjunct."""

    guard: exp.Expr | None = None
    rules: tuple[TableRule, ...] = ()


class UpsertGuard(NamedTuple):
    """The rule ON CONFLICT DO UPDATE applied to the existing row (for ``explain``)."""

    rules: tuple[TableRule, ...] = ()


class Returning(NamedTuple):
    """The RETURNING list of a write, with every star written out as the columns it stands for
    (empty without one)."""

    items: tuple[exp.Expr, ...] = ()


class NewRowChecks(NamedTuple):
    """Whether the statement returns rows only for rowgate's own new-row checks (drop them)."""

    discard_rows: bool = False


class Filters(NamedTuple):
    """Each filtered read: by ``id`` of the subquery's SELECT, its inner table and the policy
    predicate its WHERE must keep; and the rules shown by ``explain``."""

    by_select: Mapping[int, tuple[exp.Table, exp.Expr]] = MappingProxyType({})
    rules: tuple[TableRule, ...] = ()


F = TypeVar("F")


class Findings:
    """What the rules have found so far: one attribute per kind, added once (``add``) by the rule
    that declares it writes it, never set or changed; reading one not found (yet) raises
    ``AttributeError``."""

    __slots__ = (
        "census",
        "cte_references",
        "filters",
        "insert_guard",
        "new_row_checks",
        "resolution",
        "returning",
        "statement",
        "table_operations",
        "target_guard",
        "upsert_guard",
    )
    census: Census
    statement: Statement
    cte_references: CteReferences
    resolution: Resolution
    table_operations: TableOperations
    insert_guard: InsertGuard
    target_guard: TargetGuard
    upsert_guard: UpsertGuard
    returning: Returning
    new_row_checks: NewRowChecks
    filters: Filters

    def __init__(self, *findings: object) -> None:
        for finding in findings:
            self.add(finding)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"findings are added, never set ({name})")

    def add(self, finding: object) -> None:
        """Add ``finding``.  Each kind is added once: one rule writes it (``in_order`` checks) and
        each rule runs once per statement."""
        object.__setattr__(self, _ATTRIBUTES[type(finding)], finding)

    def get(self, kind: type[F]) -> F | None:
        """The finding of ``kind``, or ``None`` when no rule has written it (yet)."""
        return getattr(self, _ATTRIBUTES[kind], None)

    def only(self, kinds: tuple[type, ...]) -> Findings:
        """The findings of ``kinds`` alone (to run one rule with just what it declares)."""
        return Findings(*(f for f in map(self.get, kinds) if f is not None))


_ATTRIBUTES: dict[type, str] = {
    Census: "census",
    Statement: "statement",
    CteReferences: "cte_references",
    Resolution: "resolution",
    TableOperations: "table_operations",
    InsertGuard: "insert_guard",
    TargetGuard: "target_guard",
    UpsertGuard: "upsert_guard",
    Returning: "returning",
    NewRowChecks: "new_row_checks",
    Filters: "filters",
}


def explained(found: Findings) -> tuple[TableRule, ...]:
    """Which rule applied to each table, in the order the rules ran (for ``explain``)."""
    return (
        *found.insert_guard.rules,
        *found.target_guard.rules,
        *found.upsert_guard.rules,
        *found.filters.rules,
    )
