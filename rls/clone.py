"""Copying sqlglot trees the cheap way, for the copies the rewriter makes on every statement.

``Expression.copy`` is ``copy.deepcopy``, which also deep-copies each node's comments and
source positions (``meta``): about 8 µs for a three-node policy filter.  Rewritten SQL is
generated without comments and never reports positions, so ``clone`` copies only the nodes and
their arguments.  It is iterative, like sqlglot's own copy, so a deep tree cannot exhaust the
stack.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, cast

from sqlglot import exp

E = TypeVar("E", bound=exp.Expr)
#: Called on each node before it is copied: a replacement node (used as it is), or ``None``.
Substitute = Callable[[exp.Expr], exp.Expr | None]


def clone(expression: E, substitute: Substitute | None = None) -> E:
    """A copy of ``expression`` without comments or positions; ``substitute`` may put nodes of
    its own in place of some (a qualified column for a bare one, say: a node of the same kind)."""
    root = _replacement(expression, substitute)
    if root is not None:
        return cast(E, root)
    copy = expression.__class__()
    stack: list[tuple[exp.Expr, exp.Expr]] = [(expression, copy)]
    while stack:
        node, target = stack.pop()
        for key, value in node.args.items():
            if isinstance(value, exp.Expr):
                target.set(key, _child(value, substitute, stack))
            elif type(value) is list:
                items = [_child(v, substitute, stack) if isinstance(v, exp.Expr) else v for v in value]
                target.set(key, items)
            else:
                target.args[key] = value
    return copy


def _replacement(node: exp.Expr, substitute: Substitute | None) -> exp.Expr | None:
    return substitute(node) if substitute is not None else None


def _child(node: exp.Expr, substitute: Substitute | None, stack: list[tuple[exp.Expr, exp.Expr]]) -> exp.Expr:
    replaced = _replacement(node, substitute)
    if replaced is not None:
        return replaced
    copy = node.__class__()
    stack.append((node, copy))
    return copy
