"""RETURNING shows only what the caller may see: ``*`` and ``target.*`` are written out as the
target's visible columns (and ``alias.*`` for each FROM or USING relation, which are filtered
reads already).  Named hidden columns were refused by check_columns."""

from __future__ import annotations

from sqlglot import exp

from rowgate.rls.context import Inputs, rule
from rowgate.rls.findings import Findings, Resolution, Returning
from rowgate.rls.names import ident_name, quoted
from rowgate.rls.sources import alias_of, owner_of, relations

#: What this rule finds in a statement it has nothing to do with (one value: findings are
#: immutable).
_NOTHING = Returning()


@rule(reads=(Resolution,), writes=Returning)
def limit_returning(expression: exp.Expr, inputs: Inputs, found: Findings) -> exp.Expr:
    """Expand stars in RETURNING into the columns the caller may see."""
    resolution = found.resolution
    returning = expression.args.get("returning")
    target = resolution.target
    if returning is None or target is None:
        found.add(_NOTHING)
        return expression
    policy = resolution.policies[id(target)]
    name = alias_of(target, inputs.dialect)
    visible = [
        exp.Column(this=quoted(c), table=quoted(name))
        for c in inputs.grant(policy, "select").visible(inputs.columns(policy))
    ]
    others = [
        exp.Column(this=exp.Star(), table=quoted(alias_of(r, inputs.dialect)))
        for r in relations(expression)
        if owner_of(r) is expression
    ]
    expanded: list[exp.Expr] = []
    for item in returning.expressions:
        if isinstance(item, exp.Star):
            expanded.extend([*visible, *others])
        elif isinstance(item, exp.Column) and isinstance(item.this, exp.Star):
            same = ident_name(item.args.get("table"), inputs.dialect) == name
            expanded.extend(visible if same else [item])
        else:
            expanded.append(item)
    returning.set("expressions", expanded)
    found.add(Returning(tuple(expanded)))
    return expression
