"""Pieces the write rules share: the refusal wording, pinning the target table to its exact
name, and describing a row to ``rls.newrow``."""

from __future__ import annotations

from sqlglot import exp

from config.errors import WriteRefused
from rls import raising
from rls.context import Context
from rls.grants import Grant
from rls.names import ident_name, quoted
from rls.newrow import Outcome, Value, bound, literal_value, to_check
from rls.policy import TablePolicy

_PREPOSITIONS = {"insert": "into", "update": "", "delete": "from", "select": "from"}


def refuse_denied(grant: Grant, ctx: Context) -> None:
    """Raise ``WriteRefused`` when ``grant`` lets the subject touch no row at all."""
    if not grant.denied:
        return
    table, operation = grant.table, grant.operation
    verb = f"{operation} {_PREPOSITIONS[operation]} {table.name}".replace("  ", " ")
    if grant.groups:
        raise WriteRefused(f"a caller without a tenant may not {verb}", code="operation_not_allowed")
    who = ", ".join(sorted(ctx.signature[0])) or "none"
    raise WriteRefused(f"role {who} may not {verb}", code="operation_not_allowed")


def pin_target(target: exp.Table, policy: TablePolicy, keep_alias: bool) -> str:
    """Point the write target at the exact table; return the name it is referred to by."""
    original = target.this
    alias = target.args.get("alias")
    target.set("this", quoted(policy.name))
    target.set("db", quoted(policy.schema))
    if alias is None and keep_alias and isinstance(original, exp.Identifier):
        target.set("alias", exp.TableAlias(this=original))
        return original.name
    return alias.this.name if alias is not None else policy.name


def row_value(node: exp.Expr, ctx: Context) -> Value:
    """How a value written into a column reads to ``rls.newrow``."""
    slot = ctx.bind.slot_of(node)
    return bound(slot) if slot is not None else literal_value(node)


def require(outcome: Outcome, message: str, ctx: Context) -> None:
    """Keep the bind-time check ``outcome`` needs, or refuse the write now."""
    try:
        check = to_check(outcome, message)
    except ValueError:
        raise WriteRefused(message, code="write_refused") from None
    if check is not None:
        ctx.checks.append(check)


def runtime_check(
    outcome: Outcome, message: str, qualifier: str, column: str, ctx: Context
) -> exp.Expr | None:
    """SQL that fails at run time, on a written row, unless ``outcome`` holds; ``None`` when it
    always holds.  What cannot be decided even then (``None`` outcome) is refused now."""
    if outcome is None:
        raise WriteRefused(
            message + " (or rowgate cannot prove it would): write the columns the policy reads as "
            "literals, or leave them unchanged",
            code="write_refused",
        )
    if any(not conjunction for conjunction in outcome):
        return None
    return raising.unless(raising.outcome_condition(outcome, ctx.bind), message, qualifier, column)


def column_of(node: exp.Expr, ctx: Context) -> str:
    """The folded name of a column reference or identifier."""
    if isinstance(node, exp.Column):
        node = node.this
    return ident_name(node, ctx.dialect)
