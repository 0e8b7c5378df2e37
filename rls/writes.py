"""Pieces the write rules share: the refusal wording, pinning the target table to its exact
name, and describing a row to ``rls.newrow``."""

from __future__ import annotations

from sqlglot import exp

from rowgate.rls import raising
from rowgate.rls.context import Inputs
from rowgate.rls.errors import QueryRefused, WriteRefused
from rowgate.rls.grants import Grant
from rowgate.rls.names import ident_name, quoted
from rowgate.rls.newrow import Check, Outcome, Value, bound, literal_value, to_check
from rowgate.rls.owners import OWNER
from rowgate.rls.policy import TablePolicy

_PREPOSITIONS = {"insert": "into", "update": "", "delete": "from", "select": "from"}


def refuse_denied(grant: Grant, inputs: Inputs) -> None:
    """Raise ``WriteRefused`` when ``grant`` lets the subject touch no row at all."""
    if not grant.denied:
        return
    table, operation = grant.table, grant.operation
    verb = f"{operation} {_PREPOSITIONS[operation]} {table.name}".replace("  ", " ")
    if grant.groups:
        raise WriteRefused(f"a caller without a tenant may not {verb}", code="operation_not_allowed")
    who = ", ".join(sorted(inputs.signature[0])) or "none"
    raise WriteRefused(f"role {who} may not {verb}", code="operation_not_allowed")


def pin_target(target: exp.Table, policy: TablePolicy, keep_alias: bool, inputs: Inputs) -> str:
    """Point the write target at the exact table; return the name it is referred to by, as the
    database folds it (rowgate writes it quoted: ``UPDATE tasks T`` is ``"t"``)."""
    original = target.this
    alias = target.args.get("alias")
    target.set("this", quoted(policy.name))
    target.set("db", inputs.schema_of(policy))
    if alias is None and keep_alias and isinstance(original, exp.Identifier):
        target.set("alias", exp.TableAlias(this=original))
        return ident_name(original, inputs.dialect)
    return ident_name(alias.this, inputs.dialect) if alias is not None else policy.name


def row_value(node: exp.Expr, inputs: Inputs) -> Value:
    """How a value written into a column reads to ``rls.newrow``."""
    slot = inputs.bind.slot_of(node)
    return bound(slot) if slot is not None else literal_value(node)


def violation(table: str, row: str, policy: str) -> str:
    """The message for a new row that fails a policy (or the owner rule, ``rls.owners``)."""
    if policy == OWNER:
        return (
            f"the {row} row of {table} would name another owner: its owner column must hold your own "
            "user id (leave it out and rowgate fills it in)"
        )
    return (
        f"the {row} row of {table} would not pass its {policy} policy (its tenant, owner or filtered "
        "columns hold values you may not write)"
    )


def unverifiable(table: str, row: str, policy: str) -> str:
    """The message for a new row rowgate cannot check statically."""
    if policy == OWNER:
        return (
            f"rowgate cannot check the owner column of the {row} row of {table}: leave it out "
            "(rowgate fills in your user id) or write your id as a literal"
        )
    return (
        f"rowgate cannot check the {row} row of {table} against its {policy} policy: leave the tenant "
        "and owner columns out (rowgate fills them in) and write the columns the policy's filters "
        "read as literals"
    )


def require(outcome: Outcome, table: str, row: str, policy: str) -> Check | None:
    """The bind-time check ``outcome`` needs (``None``: none), or refuse the write now."""
    if outcome is None:
        raise WriteRefused(unverifiable(table, row, policy), code="write_refused")
    try:
        return to_check(outcome, violation(table, row, policy))
    except ValueError:
        raise WriteRefused(violation(table, row, policy), code="write_refused") from None


def runtime_check(
    outcome: Outcome, table: str, policy: str, qualifier: str, column: str, inputs: Inputs
) -> exp.Expr | None:
    """SQL that fails at run time, on an updated row, unless ``outcome`` holds; ``None`` when it
    always holds.  What cannot be decided even then (``None`` outcome) is refused now."""
    if outcome is None:
        raise WriteRefused(unverifiable(table, "updated", policy), code="write_refused")
    if any(not conjunction for conjunction in outcome):
        return None
    condition = raising.outcome_condition(outcome, inputs.bind)
    if not inputs.barrier:
        # Only PostgreSQL's failing cast is relied on to raise; elsewhere the row is just not written.
        return condition
    return raising.unless(condition, violation(table, "updated", policy), qualifier, column)


def column_of(node: exp.Expr, inputs: Inputs) -> str:
    """The folded name of a column reference or identifier (a write names only columns)."""
    if isinstance(node, exp.Column):
        node = node.this
    if not isinstance(node, exp.Identifier):
        raise QueryRefused(
            "a write names something other than a column where a column must stand",
            code="statement_not_allowed",
        )
    return ident_name(node, inputs.dialect)


def fill_defaults(assignments: list[exp.Expr], policy: TablePolicy, inputs: Inputs) -> None:
    """``SET <tenant or owner column> = DEFAULT`` writes the caller's value (NULL for a caller
    without a user id), as the column defaults of the native export (``rls.export``) do."""
    slots = {policy.tenant_column: "tenant", policy.owner_column: "user" if inputs.signature[1] else None}
    for assignment in assignments:
        value = assignment.expression
        if not is_default(value):
            continue
        column = column_of(assignment.this, inputs)
        if column in slots and column is not None:
            slot = slots[column]
            value.replace(inputs.value(slot, policy, column) if slot is not None else exp.Null())


def is_default(node: exp.Expr) -> bool:
    """The keyword DEFAULT (sqlglot reads it as an unquoted column, or a variable)."""
    word = node.this if isinstance(node, exp.Column) and not node.args.get("table") else node
    if isinstance(word, exp.Identifier) and word.quoted:
        return False
    return isinstance(word, exp.Identifier | exp.Var) and word.name.upper() == "DEFAULT"
