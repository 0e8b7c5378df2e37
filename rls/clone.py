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
    root = substitute(expression) if substitute is not None else None
    if root is not None:
        return cast(E, root)
    expr = exp.Expr
    copy = expression.__class__()
    stack: list[tuple[exp.Expr, exp.Expr]] = [(expression, copy)]
    pop, push = stack.pop, stack.append
    while stack:
        node, target = pop()
        args = target.args
        for key, value in node.args.items():
            # Arguments are set directly (the copy is new: no hash to reset), children linked
            # to their parent by hand: the copy runs on every statement rewritten.
            if isinstance(value, expr):
                child = substitute(value) if substitute is not None else None
                if child is None:
                    child = value.__class__()
                    push((value, child))
                child.parent, child.arg_key = target, key
                value = child
            elif value.__class__ is list:
                items = []
                for index, item in enumerate(value):
                    if isinstance(item, expr):
                        child = substitute(item) if substitute is not None else None
                        if child is None:
                            child = item.__class__()
                            push((item, child))
                        child.parent, child.arg_key, child.index = target, key, index
                        item = child
                    items.append(item)
                value = items
            args[key] = value
    return copy
