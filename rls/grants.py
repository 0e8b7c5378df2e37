"""What one subject may do with one table: the row predicate of an operation, and its columns.

Semantics follow PostgreSQL's permissive policies.  For an operation, the subject qualifies for
some of the table's granting groups (``admin``, ``user`` and ``guest`` by membership, ``self``
when it has a user id); the rows it may touch are the OR of those groups' predicates:

    admin, user  →  tenant rows
    self         →  tenant rows AND owner = the caller
    guest        →  tenant rows (every row of a shared table)

each AND-ed with the group's extra filter, if the policy has one.  The tenant part is common to
every group, so the predicate is built as ``tenant = $t AND (g1 OR g2 ...)``, and the OR
disappears as soon as one qualifying group is unrestricted.  No qualifying group, or a
tenant-scoped table and a subject without a tenant, means no rows at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from sqlglot import exp

from rowgate.rls.clone import clone
from rowgate.rls.names import quoted
from rowgate.rls.policy import TablePolicy
from rowgate.rls.subject import Signature

#: Makes the node that stands for a subject value (``"tenant"`` or ``"user"``) compared with a
#: column (its name is the second argument) in the output.
Bind = Callable[[str, str], exp.Expr]


@dataclass(frozen=True, slots=True)
class Disjunct:
    """One qualifying group's own restriction (beyond the tenant)."""

    group: str
    owner: str | None
    filter: exp.Expr | None


@dataclass(frozen=True, slots=True)
class Grant:
    """The rows (and columns) of ``table`` a subject may use for ``operation``."""

    table: TablePolicy
    operation: str
    groups: tuple[str, ...]
    tenant: str | None
    disjuncts: tuple[Disjunct, ...]
    denied: bool
    hidden: frozenset[str]
    description: str = ""

    def predicate(self, qualifier: str, bind: Bind) -> exp.Expr:
        """A fresh boolean expression over columns qualified with ``qualifier``."""
        if self.denied:
            return exp.false()
        tenant = (
            exp.EQ(this=_column(self.tenant, qualifier), expression=bind("tenant", self.tenant))
            if self.tenant
            else None
        )
        if not self.disjuncts:
            return tenant or exp.true()
        alternatives = [_disjunct(d, qualifier, bind) for d in self.disjuncts]
        restriction = alternatives[0]
        for alternative in alternatives[1:]:
            restriction = exp.Or(this=restriction, expression=alternative)
        if tenant is None:
            return restriction
        return exp.And(this=tenant, expression=grouped(restriction))

    def visible(self, columns: Sequence[str]) -> tuple[str, ...]:
        """``columns`` without the ones hidden from this subject."""
        return tuple(c for c in columns if c not in self.hidden)

    def describe(self) -> str:
        """The rule in words and SQL, for ``explain``: ``org_id = <tenant> AND (...)``."""
        return self.description or self._describe()

    def _describe(self) -> str:
        if self.denied:
            return "no rows (no granting group)" if not self.groups else "no rows (no tenant)"
        parts = [f"{self.tenant} = <tenant>"] if self.tenant else []
        if self.disjuncts:
            alternatives = [_describe_disjunct(d, self.table) for d in self.disjuncts]
            parts.append("(" + " OR ".join(alternatives) + ")")
        return " AND ".join(parts) or "all rows"


def grant(table: TablePolicy, operation: str, signature: Signature) -> Grant:
    """The grant of ``operation`` on ``table`` for subjects with ``signature`` (memoised)."""
    return _grant(table, operation, signature)


@lru_cache(maxsize=4096)
def _grant(table: TablePolicy, operation: str, signature: Signature) -> Grant:
    groups = tuple(sorted(g for g in table.groups(operation) if qualifies(g, signature)))
    tenant = table.tenant_column
    denied = not groups or (tenant is not None and not signature[2])
    disjuncts: list[Disjunct] = []
    for group in groups:
        owner = table.owner_column if group == "self" else None
        restriction = table.filters.get(group)
        if owner is None and restriction is None:
            disjuncts = []
            break
        disjuncts.append(Disjunct(group, owner, restriction))
    made = Grant(
        table, operation, groups, tenant, tuple(disjuncts), denied, _hidden(table, groups, signature)
    )
    return replace(made, description=made.describe())


def qualifies(group: str, signature: Signature) -> bool:
    """Whether a subject with ``signature`` belongs to the policy group ``group``."""
    if group == "self":
        return signature[1]
    return group in signature[0]


def _hidden(table: TablePolicy, groups: tuple[str, ...], signature: Signature) -> frozenset[str]:
    # A column is visible when one granting group does not hide it.  Without a granting group the
    # rows are empty anyway; hide whatever any of the subject's groups hides, to be safe.
    if groups:
        sets = [table.hidden.get(g, frozenset()) for g in groups]
        return frozenset.intersection(*sets)
    own = list(signature[0]) + (["self"] if signature[1] else [])
    return frozenset(c for g in own for c in table.hidden.get(g, frozenset()))


def _column(name: str, qualifier: str) -> exp.Column:
    return exp.Column(this=quoted(name), table=quoted(qualifier))


def _disjunct(disjunct: Disjunct, qualifier: str, bind: Bind) -> exp.Expr:
    owner = (
        exp.EQ(this=_column(disjunct.owner, qualifier), expression=bind("user", disjunct.owner))
        if disjunct.owner
        else None
    )
    restriction = qualify(disjunct.filter, qualifier) if disjunct.filter is not None else None
    if owner is not None and restriction is not None:
        return exp.And(this=owner, expression=grouped(restriction))
    return owner or restriction or exp.true()


def grouped(expression: exp.Expr) -> exp.Expr:
    """``expression`` in parentheses when it is an OR (to sit under an AND)."""
    return exp.Paren(this=expression) if isinstance(expression, exp.Or) else expression


def qualify(expression: exp.Expr, qualifier: str) -> exp.Expr:
    """A copy of a policy filter with every column qualified by ``qualifier``."""

    def qualified(node: exp.Expr) -> exp.Expr | None:
        if isinstance(node, exp.Column):
            return exp.Column(this=quoted(node.name), table=quoted(qualifier))
        return None

    return clone(expression, qualified)


def _describe_disjunct(disjunct: Disjunct, table: TablePolicy) -> str:
    text = table.filter_sql.get(disjunct.group, "")
    if disjunct.owner and text:
        return f"{disjunct.owner} = <user> AND ({text})"
    return f"{disjunct.owner} = <user>" if disjunct.owner else text
