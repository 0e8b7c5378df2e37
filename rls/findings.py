"""What the rewrite rules find, each kind written by one rule and read by the rules after it.

Every finding is an immutable value, made whole by the rule that owns it (``rls.context.Rule``
declares who writes and who reads what).  Nodes of the tree are found by object identity
(``id(node)``), which a caller's SQL cannot forge.

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
from dataclasses import dataclass, field
from types import MappingProxyType

from sqlglot import exp

from rowgate.rls.context import Findings, TableRule
from rowgate.rls.newrow import Check
from rowgate.rls.policy import TablePolicy


@dataclass(frozen=True, slots=True)
class Census:
    """Nodes of the parsed statement by kind, collected in one walk before any rewriting."""

    identifiers: tuple[exp.Identifier, ...] = ()
    tables: tuple[exp.Table, ...] = ()
    columns: tuple[exp.Column, ...] = ()
    functions: tuple[exp.Func, ...] = ()
    parameters: tuple[exp.Expr, ...] = ()
    ctes: tuple[exp.CTE, ...] = ()
    #: Nodes with no business in a plain read (casts' types, dots, nested statements ...).
    suspicious: tuple[exp.Expr, ...] = ()


@dataclass(frozen=True, slots=True)
class Statement:
    """What the statement is: ``select``, ``insert``, ``update`` or ``delete``."""

    kind: str


@dataclass(frozen=True, slots=True)
class CteReferences:
    """The table references that name a CTE (by ``id``), renamed to ``rowgate_cte_<n>``."""

    ids: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class Resolution:
    """The policy of each base-table reference (by ``id`` of its ``exp.Table``), and the target
    of an INSERT, UPDATE or DELETE."""

    policies: Mapping[int, TablePolicy]
    target: exp.Table | None = None


@dataclass(frozen=True, slots=True)
class TableOperations:
    """What the statement does to each table, ``(resource, action)`` sorted: ``("tasks", "read")``."""

    pairs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class InsertGuard:
    """An INSERT's checks: those run when values are bound, those the database runs on each new
    row (``TRUE`` or a failure), and the rule shown by ``explain``."""

    checks: tuple[Check, ...] = ()
    row_checks: tuple[exp.Expr, ...] = ()
    rules: tuple[TableRule, ...] = ()


@dataclass(frozen=True, slots=True)
class TargetGuard:
    """The predicate an UPDATE or DELETE's WHERE must keep as a top-level conjunct."""

    guard: exp.Expr | None = None
    rules: tuple[TableRule, ...] = ()


@dataclass(frozen=True, slots=True)
class UpsertGuard:
    """The rule ON CONFLICT DO UPDATE applied to the existing row (for ``explain``)."""

    rules: tuple[TableRule, ...] = ()


@dataclass(frozen=True, slots=True)
class Returning:
    """The RETURNING list of a write, with every star written out as the columns it stands for
    (empty without one)."""

    items: tuple[exp.Expr, ...] = ()


@dataclass(frozen=True, slots=True)
class NewRowChecks:
    """Whether the statement returns rows only for rowgate's own new-row checks (drop them)."""

    discard_rows: bool = False


@dataclass(frozen=True, slots=True)
class Filters:
    """Each filtered read: by ``id`` of the subquery's SELECT, its inner table and the policy
    predicate its WHERE must keep; and the rules shown by ``explain``."""

    by_select: Mapping[int, tuple[exp.Table, exp.Expr]] = field(default_factory=lambda: MappingProxyType({}))
    rules: tuple[TableRule, ...] = ()


def explained(found: Findings) -> tuple[TableRule, ...]:
    """Which rule applied to each table, in the order the rules ran (for ``explain``)."""
    return (
        *found[InsertGuard].rules,
        *found[TargetGuard].rules,
        *found[UpsertGuard].rules,
        *found[Filters].rules,
    )
