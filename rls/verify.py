"""The last rule: walk the rewritten tree and refuse it unless every table read is filtered.

It trusts nothing the earlier rules concluded about where tables are; it only accepts, for
each ``exp.Table`` in the final tree, one of:

- a read inside a filter the rewriter built (recognised by object identity, which SQL text
  cannot forge) whose WHERE still holds the policy predicate and which still ends in the
  dialect's fence (``rls.fences``);
- the statement's write target, with its guard predicate still a top-level conjunct of the
  WHERE (UPDATE, DELETE), or the tenant column in its column list and any run-time new-row
  check at the top level of RETURNING (INSERT);
- a reference to a renamed CTE (``rowgate_cte_<n>``: a CTE or nothing, never a real table);
- a table function (``generate_series(...)``; its function passed the allowlist).

Every FROM or JOIN item must be a table, a subquery, a lateral item or a VALUES list, and no
data-modifying statement may hide below the root.  Whatever a rule missed is caught here:
fail closed.
"""

from __future__ import annotations

from sqlglot import exp

from rowgate.rls.context import Inputs, rule
from rowgate.rls.errors import QueryRefused
from rowgate.rls.findings import Filters, Findings, InsertGuard, Resolution, TargetGuard
from rowgate.rls.names import ident_name
from rowgate.rls.rules.rename_ctes import CTE_PREFIX

_RELATIONS = (exp.Table, exp.Subquery, exp.Lateral, exp.Values, exp.Unnest)


@rule(reads=(Resolution, InsertGuard, TargetGuard, Filters))
def verify(expression: exp.Expr, inputs: Inputs, found: Findings) -> exp.Expr:
    """Refuse the rewritten statement unless every table read is filtered or guarded."""
    kinds = _KINDS
    for node in expression.walk():
        kind = kinds.get(type(node))
        if kind is None:
            kind = _kind(type(node))
        if kind == _TABLE:
            _check_table(node, expression, inputs, found)  # type: ignore[arg-type]
        elif kind == _FROM and not isinstance(node.this, _RELATIONS):
            _fail(f"a {node.this.key} in FROM")
        elif kind == _DML and node is not expression:
            _fail("a nested write")
    return expression


# Each node's class is looked up once (a table filled on first sight) rather than tested
# against each kind: the verifier walks every node of every statement it rewrites.
_TABLE, _FROM, _DML, _OTHER = 1, 2, 3, 0
_KINDS: dict[type[exp.Expr], int] = {}


def _kind(cls: type[exp.Expr]) -> int:
    kind = (
        _TABLE
        if issubclass(cls, exp.Table)
        else _FROM
        if issubclass(cls, exp.From | exp.Join)
        else _DML
        if issubclass(cls, exp.DML)
        else _OTHER
    )
    _KINDS[cls] = kind
    return kind


def _check_table(table: exp.Table, root: exp.Expr, inputs: Inputs, found: Findings) -> None:
    if not isinstance(table.this, exp.Identifier):
        if not isinstance(table.this, exp.Func):
            _fail(
                f"a {table.this.key} used as a table" if table.this is not None else "a table without a name"
            )
        return
    if table is found.resolution.target:
        _check_target(table, root, inputs, found)
        return
    if _is_filtered(table, found.filters, inputs):
        return
    if not table.args.get("db") and table.this.this.startswith(CTE_PREFIX):
        return
    _fail(f"table {table.sql(inputs.dialect)}")


def _is_filtered(table: exp.Table, filters: Filters, inputs: Inputs) -> bool:
    from_ = table.parent
    select = from_.parent if isinstance(from_, exp.From) else None
    record = filters.by_select.get(id(select)) if select is not None else None
    if record is None or record[0] is not table or select is None:
        return False
    predicate = record[1]
    where = select.args.get("where")
    if select.args.get("joins") or select.args.get("laterals") or where is None:
        return False
    if not is_conjunct(where.this, predicate):
        return False
    return inputs.fence.holds(select)


def _check_target(table: exp.Table, root: exp.Expr, inputs: Inputs, found: Findings) -> None:
    if isinstance(root, exp.Update | exp.Delete):
        where, guard = root.args.get("where"), found.target_guard.guard
        if where is None or guard is None or not is_conjunct(where.this, guard):
            _fail("the write target without its guard")
    elif isinstance(root, exp.Insert):
        schema = root.this
        names = (
            [ident_name(i, inputs.dialect) for i in schema.expressions]
            if isinstance(schema, exp.Schema)
            else []
        )
        policy = found.resolution.policies[id(table)]
        if policy.tenant_column and policy.tenant_column not in names:
            _fail("an insert without the tenant column")
        if not all(_checks_every_row(check, root) for check in found.insert_guard.row_checks):
            _fail("an insert without its new-row check")


def _checks_every_row(check: exp.Expr, root: exp.Expr) -> bool:
    """Whether a new-row check (by identity) is evaluated for every row the INSERT returns: a
    conjunct of a RETURNING item, or of the first condition of a CASE that is one."""
    node = check
    while isinstance(node.parent, exp.And):
        node = node.parent
    if isinstance(node.parent, exp.If) and node.arg_key == "this":
        case = node.parent.parent
        if (
            not isinstance(case, exp.Case)
            or not case.args.get("ifs")
            or case.args["ifs"][0] is not node.parent
        ):
            return False
        node = case
    if isinstance(node.parent, exp.Alias):
        node = node.parent
    returning = node.parent
    return (
        isinstance(returning, exp.Returning) and returning.parent is root and returning.arg_key == "returning"
    )


def is_conjunct(condition: exp.Expr, part: exp.Expr) -> bool:
    """Whether ``part`` (by identity) is AND-ed at the top level of ``condition``."""
    stack = [condition]
    while stack:
        node = stack.pop()
        if node is part:
            return True
        if isinstance(node, exp.And):
            stack.extend((node.this, node.expression))
        elif isinstance(node, exp.Paren):
            stack.append(node.this)
    return False


def _fail(what: str) -> None:
    raise QueryRefused(
        f"rowgate could not verify the rewritten statement ({what} is not filtered); it was refused",
        code="unverified",
    )
