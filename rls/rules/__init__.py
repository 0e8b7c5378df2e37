"""The rewrite rules, in the order they run: checks first, then the rewrites, then the verifier.

Each rule is a function in a module named after it, declared with the findings it reads and the
one it writes (``rls.context.rule``, ``rls.findings``); ``in_order`` refuses, at import, an order
in which a rule reads what no earlier rule has written.  What is not a finding is kept by the
order of this tuple alone: the checks run before the guards and filters rewrite the tree (among
themselves, their order decides which refusal a statement with several faults gets), and verify
runs last.  Each rule has a fixture file of its own (``tests/rls/fixtures/rules/<rule>.sql``)
that runs it alone.
"""

from __future__ import annotations

from rowgate.rls.context import Rule, in_order
from rowgate.rls.rules.census import take_census
from rowgate.rls.rules.check_columns import check_columns
from rowgate.rls.rules.check_functions import check_functions
from rowgate.rls.rules.check_names import check_names
from rowgate.rls.rules.check_parameters import check_parameters
from rowgate.rls.rules.check_statement import check_statement
from rowgate.rls.rules.check_types import check_types
from rowgate.rls.rules.filter_reads import filter_reads
from rowgate.rls.rules.guard_insert import guard_insert
from rowgate.rls.rules.guard_new_rows import guard_new_rows
from rowgate.rls.rules.guard_target import guard_target
from rowgate.rls.rules.guard_upsert import guard_upsert
from rowgate.rls.rules.limit_returning import limit_returning
from rowgate.rls.rules.list_operations import list_operations
from rowgate.rls.rules.rename_ctes import rename_ctes
from rowgate.rls.rules.resolve_tables import resolve_tables
from rowgate.rls.verify import verify

RULES: tuple[Rule, ...] = in_order(
    take_census,
    check_names,
    check_statement,
    check_functions,
    check_types,
    check_parameters,
    rename_ctes,
    resolve_tables,
    list_operations,
    check_columns,
    guard_insert,
    guard_target,
    guard_upsert,
    limit_returning,
    guard_new_rows,
    filter_reads,
    verify,
)

__all__ = ["RULES"]
