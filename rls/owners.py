"""Owners cannot be forged: the rule for the owner column of the rows a caller writes.

On a table with an owner column, a row a caller inserts, or whose owner column an UPDATE (or ON
CONFLICT DO UPDATE) sets, must hold the caller's own user id there (NULL for a caller without
one, a guest), as PostgreSQL's WITH CHECK would demand of ``owner = caller``.  Whoever leaves the
column out gets the caller's id (``guard_insert`` fills it in; an UPDATE keeps the old owner).

Two cases are free of the rule:

- the caller writes as the tenant's admin: it qualifies for a granting ``admin`` group of the
  operation, on a table with a tenant column (an admin may assign rows of its own tenant; a
  table shared by every tenant has no admin of its rows);
- the table says ``owner_writable: true``.

The rule is a ``Grant`` of its own (one alternative: ``owner = <user>``, or ``owner IS NULL``),
checked by the write rules beside the operation's policy, so a literal is compared with the
caller's id when the values are bound, and a computed value is checked by the database on the
rows actually written (``rls.newrow``, ``rls.raising``).  The native export states the same rule
as a trigger (``rls.export``).
"""

from __future__ import annotations

from functools import lru_cache

from sqlglot import exp

from rowgate.rls.grants import Disjunct, Grant, qualifies
from rowgate.rls.names import quoted
from rowgate.rls.policy import TablePolicy
from rowgate.rls.subject import Signature

#: The label ``rls.writes`` uses for the owner rule in its messages.
OWNER = "owner"
#: What the native trigger's error (``rls.export.owner_trigger``) says, so that ``proxy.data.execute``
#: can tell the owner rule's refusal from a policy's.
TRIGGER_MARK = "(owner column)"


def _admin_writes(table: TablePolicy, operation: str, signature: Signature) -> bool:
    """Whether the subject writes ``table`` as its tenant's admin (free of the owner rule)."""
    return table.tenant_column is not None and "admin" in signature[0] and "admin" in table.groups(operation)


def owner_rule(table: TablePolicy, operation: str, signature: Signature) -> Grant | None:
    """The rule a written row's owner column must pass; ``None`` when the subject is free of it."""
    return _owner_rule(table, operation, signature)


@lru_cache(maxsize=1024)
def _owner_rule(table: TablePolicy, operation: str, signature: Signature) -> Grant | None:
    owner = table.owner_column
    if owner is None or table.owner_writable or _admin_writes(table, operation, signature):
        return None
    if _only_self(table, operation, signature):
        return None  # the operation's own check already holds the owner to the caller
    if signature[1]:
        disjunct = Disjunct(OWNER, owner, None)
        description = f"{owner} = <user>"
    else:
        disjunct = Disjunct(OWNER, None, exp.Is(this=exp.Column(this=quoted(owner)), expression=exp.Null()))
        description = f"{owner} IS NULL"
    return Grant(table, OWNER, (OWNER,), None, (disjunct,), False, frozenset(), description)


def _only_self(table: TablePolicy, operation: str, signature: Signature) -> bool:
    groups = [g for g in table.groups(operation) if qualifies(g, signature)]
    return bool(groups) and all(g == "self" for g in groups)
