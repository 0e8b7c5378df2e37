"""Checking new rows against a policy without running them: PostgreSQL's WITH CHECK, statically.

An INSERT must leave rows the insert policy lets through, an UPDATE rows the update policy lets
through (and, when the statement reads the table, rows the select policy lets through too).
PostgreSQL raises an error when a new row fails; so does rowgate, before the statement runs.

A row is described column by column (``Value``): a value rowgate itself bound (the caller's
tenant or user id), a literal, NULL, the old value (an UPDATE that does not set the column), or
something unknown (an expression, a caller's parameter, a column default).  Each conjunct of
the grant's predicate evaluates to pass, fail, unknown, or a condition on the subject's values
(``tenant == '42'``) that can only be decided when the values are bound: those conditions are
kept in disjunctive normal form and checked for every request (``Check.holds``).  Unknown means
rowgate cannot prove the row allowed, and the write is refused with a message that says how to
write it instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlglot import exp

from rowgate.rls.grants import Disjunct, Grant

Atom = tuple[str, str]
#: Disjunctive normal form: ``()`` fails, ``((),)`` passes, ``None`` is unknown.
Outcome = tuple[tuple[Atom, ...], ...] | None
PASS: Outcome = ((),)
FAIL: Outcome = ()

OLD = ("old",)
UNKNOWN = ("unknown",)
NULL = ("null",)
Value = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Check:
    """A condition on the subject's values that a new row needs; checked at every bind."""

    alternatives: tuple[tuple[Atom, ...], ...]
    message: str

    def holds(self, values: Mapping[str, str | None]) -> bool:
        """Whether the subject's ``values`` (``{"tenant": ..., "user": ...}``) satisfy it."""
        return any(all(values.get(slot) == literal for slot, literal in conj) for conj in self.alternatives)


def bound(slot: str) -> Value:
    """A value rowgate bound itself: the subject's ``slot``."""
    return ("bound", slot)


def literal_value(node: exp.Expr) -> Value:
    """How ``node`` reads as a row value: a literal, NULL, or unknown."""
    if isinstance(node, exp.Null):
        return NULL
    if isinstance(node, exp.Literal):
        return ("literal", node.this, bool(node.is_string))
    if isinstance(node, exp.Boolean):
        return ("boolean", bool(node.this))
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        return ("literal", "-" + node.this.this, False)
    return UNKNOWN


def evaluate(grant: Grant, values: Mapping[str, Value], single_old: bool) -> Outcome:
    """The outcome of ``grant``'s predicate on a new row.

    ``values`` maps column names to ``Value``; columns it does not name are unknown.
    ``single_old`` says the old row is known to satisfy the predicate (an UPDATE target), so a
    conjunct that only reads unchanged columns passes when it cannot have come from another
    group's alternative.
    """
    if grant.denied:
        return FAIL
    changed = {c for c, v in values.items() if v is not OLD}
    if single_old and not (_columns_of(grant) & changed):
        return PASS
    outcome = PASS
    if grant.tenant:
        outcome = _eq(values.get(grant.tenant, UNKNOWN), "tenant", single_old)
    if grant.disjuncts:
        lone = single_old and len(grant.disjuncts) == 1
        alternatives = [_disjunct(d, values, lone) for d in grant.disjuncts]
        outcome = _and(outcome, _or(alternatives))
    return outcome


def to_check(outcome: Outcome, message: str) -> Check | None:
    """``None`` when the row passes outright; a ``Check`` for conditions on bound values.

    Raises ``ValueError`` (with ``message``) when the row fails or cannot be proven allowed; the
    caller turns that into the right error.
    """
    if outcome is None or outcome == FAIL:
        raise ValueError(message)
    if any(not conj for conj in outcome):
        return None
    return Check(outcome, message)


def _columns_of(grant: Grant) -> set[str]:
    names = {grant.tenant} if grant.tenant else set()
    for d in grant.disjuncts:
        if d.owner:
            names.add(d.owner)
        if d.filter is not None:
            names.update(c.name for c in d.filter.find_all(exp.Column))
    return names


def _eq(value: Value, slot: str, old_ok: bool) -> Outcome:
    kind = value[0]
    if kind == "bound":
        return PASS if value[1] == slot else None
    if kind == "literal":
        return (((slot, str(value[1])),),)
    if kind == "null":
        return FAIL
    if kind == "old":
        return PASS if old_ok else None
    return None


def _disjunct(disjunct: Disjunct, values: Mapping[str, Value], old_ok: bool) -> Outcome:
    outcome = PASS
    if disjunct.owner:
        outcome = _eq(values.get(disjunct.owner, UNKNOWN), "user", old_ok)
    if disjunct.filter is not None:
        outcome = _and(outcome, _filter(disjunct.filter, values, old_ok))
    return outcome


def _filter(expression: exp.Expr, values: Mapping[str, Value], old_ok: bool) -> Outcome:
    columns = {c.name for c in expression.find_all(exp.Column)}
    kinds = {values.get(c, UNKNOWN)[0] for c in columns}
    if kinds == {"old"}:
        return PASS if old_ok else None
    result = _eval(expression, values)
    if result is None:
        return None
    return PASS if result is True else FAIL


def _and(left: Outcome, right: Outcome) -> Outcome:
    if left == FAIL or right == FAIL:
        return FAIL
    if left is None or right is None:
        return None
    return tuple(a + b for a in left for b in right)


def _or(outcomes: list[Outcome]) -> Outcome:
    known = [o for o in outcomes if o is not None]
    merged = tuple(conj for o in known for conj in o)
    if any(not conj for conj in merged):
        return PASS
    if merged:
        return merged
    return None if len(known) < len(outcomes) else FAIL


# A tiny three-valued evaluator: True, False, "null" (SQL NULL), None (cannot tell).
_COMPARE: dict[type[exp.Expr], str] = {
    exp.EQ: "eq",
    exp.NEQ: "ne",
    exp.GT: "gt",
    exp.GTE: "ge",
    exp.LT: "lt",
    exp.LTE: "le",
}


def _eval(node: exp.Expr, values: Mapping[str, Value]) -> Any:
    if isinstance(node, exp.Paren):
        return _eval(node.this, values)
    if isinstance(node, exp.And | exp.Or):
        return _logic(node, _eval(node.this, values), _eval(node.expression, values))
    if isinstance(node, exp.Not):
        inner = _eval(node.this, values)
        return inner if inner in (None, "null") else not inner
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if type(node) in _COMPARE:
        return _compare(_COMPARE[type(node)], _operand(node.this, values), _operand(node.expression, values))
    if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null):
        operand = _operand(node.this, values)
        return None if operand is None else operand == "null"
    if isinstance(node, exp.In) and not node.args.get("query"):
        return _in(_operand(node.this, values), [_operand(e, values) for e in node.expressions])
    return None


def _logic(node: exp.Expr, left: Any, right: Any) -> Any:
    if isinstance(node, exp.And):
        if left is False or right is False:
            return False
        return None if None in (left, right) else ("null" if "null" in (left, right) else True)
    if left is True or right is True:
        return True
    return None if None in (left, right) else ("null" if "null" in (left, right) else False)


def _operand(node: exp.Expr, values: Mapping[str, Value]) -> Any:
    value = values.get(node.name, UNKNOWN) if isinstance(node, exp.Column) else literal_value(node)
    if value[0] == "null":
        return "null"
    if value[0] == "boolean":
        return ("b", value[1])
    if value[0] != "literal":
        return None
    if value[2]:
        return ("s", value[1])
    try:
        return ("n", Decimal(value[1]))
    except InvalidOperation:
        return None


def _compare(op: str, left: Any, right: Any) -> Any:
    if left is None or right is None:
        return None
    if "null" in (left, right):
        return "null"
    if left[0] != right[0] or (left[0] in ("s", "b") and op not in ("eq", "ne")):
        return None
    if op == "eq":
        return left[1] == right[1]
    if op == "ne":
        return left[1] != right[1]
    return {
        "gt": left[1] > right[1],
        "ge": left[1] >= right[1],
        "lt": left[1] < right[1],
        "le": left[1] <= right[1],
    }[op]


def _in(left: Any, items: list[Any]) -> Any:
    results = [_compare("eq", left, item) for item in items]
    if True in results:
        return True
    if None in results:
        return None
    return "null" if "null" in results else False
