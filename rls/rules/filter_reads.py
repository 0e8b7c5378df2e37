"""Replace every base-table read with a filtered subquery under the original alias.

    FROM tasks t   →   FROM (SELECT "id", "title", ...
                             FROM "public"."tasks"
                             WHERE "tasks"."org_id" = $1 [AND <caller's leakproof conditions>]
                             OFFSET 0) AS t

wherever the read stands: FROM, every kind of JOIN, LATERAL, subqueries, set operations, CTE
bodies, INSERT ... SELECT, UPDATE ... FROM, DELETE ... USING.  The subquery lists only the
columns visible to the caller (so ``*`` leaves hidden columns out and naming one fails), names
the table by its exact schema-qualified name (so neither a CTE nor ``search_path`` can redirect
it; other dialects get the default schema's tables unqualified, see
``rls.context.SCHEMA_DIALECTS``), qualifies every column it uses with that table (so no name can
be captured by an outer query), and ends in the dialect's fence (``rls.fences``: ``OFFSET 0`` on
PostgreSQL, a LIMIT of every row elsewhere), which keeps the planner from pushing the caller's
conditions below the filter or pulling the subquery up: the security-barrier guarantee of native
row security.

A single-table read ordered by plain columns with a LIMIT also sorts and limits inside its
filter (``rls.pushdown.ordered_limit``), so that an index on the order can serve it instead of
a sort of every row the caller may see; the query keeps its own ORDER BY, LIMIT and OFFSET.
"""

from __future__ import annotations

from types import MappingProxyType

from sqlglot import exp

from rowgate.rls.context import Inputs, TableRule, rule
from rowgate.rls.findings import Census, Filters, Findings, Resolution
from rowgate.rls.grants import grouped
from rowgate.rls.names import ident_name, quoted
from rowgate.rls.policy import TablePolicy
from rowgate.rls.pushdown import conjuncts, leakproof_column, ordered_limit
from rowgate.rls.sources import alias_of, owner_of, relations


@rule(reads=(Census, Resolution), writes=Filters)
def filter_reads(expression: exp.Expr, inputs: Inputs, found: Findings) -> exp.Expr:
    """Wrap each base-table read (every resolved table but the write target) in its filter."""
    census, resolution = found.census, found.resolution
    wrapped: set[tuple[str, str]] = set()
    filters: dict[int, tuple[exp.Table, exp.Expr]] = {}
    rules: list[TableRule] = []
    for table in census.tables:
        policy = resolution.policies.get(id(table))
        if policy is not None and table is not resolution.target:
            if not table.args.get("alias"):
                wrapped.add((policy.schema, policy.name))
            select, inner, predicate, described = _wrap(table, policy, inputs)
            filters[id(select)] = (inner, predicate)
            rules.append(described)
    if wrapped:
        _unqualify_schemas(wrapped, census, inputs)
    found.add(Filters(MappingProxyType(filters), tuple(rules)))
    return expression


def _unqualify_schemas(wrapped: set[tuple[str, str]], census: Census, inputs: Inputs) -> None:
    """``public.tasks.id`` becomes ``tasks.id``: the read it names is now a subquery called
    ``tasks``, which a schema-qualified reference would no longer find."""
    for column in census.columns:
        db = column.args.get("db")
        if (
            db is not None
            and (ident_name(db, inputs.dialect), ident_name(column.args.get("table"), inputs.dialect))
            in wrapped
        ):
            column.set("db", None)
            column.set("catalog", None)


def _wrap(
    table: exp.Table, policy: TablePolicy, inputs: Inputs
) -> tuple[exp.Select, exp.Table, exp.Expr, TableRule]:
    """Replace ``table`` with its filtered subquery: return the subquery's SELECT, the table it
    reads, the policy predicate and the rule that applied."""
    grant = inputs.grant(policy, "select")
    everything = inputs.columns(policy)
    columns = grant.visible(everything) if grant.hidden else everything
    args = table.args
    inner = exp.Table(this=quoted(policy.name), db=inputs.schema_of(policy))
    for arg in ("only", "sample"):
        if args.get(arg) is not None:
            inner.set(arg, args[arg])
    predicate = grant.predicate(policy.name, inputs.values(policy))
    condition = grouped(predicate)
    for part in _take_leakproof(table, columns, policy.name, inputs):
        condition = exp.And(this=condition, expression=grouped(part))
    select = exp.Select(
        # The filter's own columns are qualified (never captured by an outer query); the listed
        # ones come from the schema, and naming them is enough.
        expressions=[exp.Column(this=quoted(c)) for c in columns],
        from_=exp.From(this=inner),
        where=exp.Where(this=condition),
    )
    if inputs.barrier:
        ordered = _take_order(table, columns, policy.name, inputs)
        if ordered is not None:
            select.set("order", ordered[0])
            select.set("limit", ordered[1])
    inputs.fence.put(select)
    alias = args.get("alias") or exp.TableAlias(this=table.this)
    subquery = exp.Subquery(this=select, alias=alias)
    for arg in ("joins", "laterals"):
        if args.get(arg):
            subquery.set(arg, args[arg])
    table.replace(subquery)
    hidden = tuple(c for c in everything if c in grant.hidden) if grant.hidden else ()
    name = alias_of(subquery, inputs.dialect)
    described = TableRule(policy.qualified, name, "select", grant.groups, grant.describe(), hidden)
    return select, inner, predicate, described


def _take_leakproof(table: exp.Table, visible: tuple[str, ...], inner: str, inputs: Inputs) -> list[exp.Expr]:
    """Move the owning query's leakproof conditions on ``table`` into its filter."""
    query = owner_of(table)
    if not isinstance(query, exp.Select):
        return []
    where = query.args.get("where")
    alias = table.args.get("alias")
    if where is None or (alias is not None and alias.columns) or not _never_null_extended(table, query):
        return []
    name = alias_of(table, inputs.dialect)
    taken, kept = [], []
    for part in conjuncts(where.this):
        column = leakproof_column(part)
        qualifier = column.args.get("table") if column is not None else None
        column_name = ident_name(column.this, inputs.dialect) if column is not None else ""
        ours = column is not None and (
            ident_name(qualifier, inputs.dialect) == name if qualifier else len(relations(query)) == 1
        )
        if ours and column_name in visible and column is not None:
            column.set("this", quoted(column_name))
            column.set("table", quoted(inner))
            taken.append(part)
        else:
            kept.append(part)
    if taken:
        query.set("where", exp.Where(this=exp.and_(*kept, copy=False)) if kept else None)
    return taken


def _take_order(
    table: exp.Table, visible: tuple[str, ...], inner: str, inputs: Inputs
) -> tuple[exp.Order, exp.Limit] | None:
    """The ORDER BY and LIMIT a single-table read may also apply inside its filter (after its
    leakproof conditions moved in: any condition left outside must see every row)."""
    query = owner_of(table)
    if not isinstance(query, exp.Select) or query.args.get("limit") is None or not query.args.get("order"):
        return None
    if relations(query) != [table]:
        return None
    from_ = query.args.get("from_")
    if from_ is None or from_.this is not table or (table.args.get("alias") or exp.TableAlias()).columns:
        return None
    return ordered_limit(query, alias_of(table, inputs.dialect), visible, inner, inputs.dialect)


def _never_null_extended(table: exp.Table, query: exp.Expr) -> bool:
    """Whether every row of ``query``'s join result has a real row of ``table`` (not NULLs from
    an outer join), which is when a WHERE condition on it may move below the join."""
    holder = table.parent
    joins = query.args.get("joins") or []
    if isinstance(holder, exp.From) and holder is query.args.get("from_"):
        later = joins
    else:
        position = next((i for i, join in enumerate(joins) if join is holder), None)
        if position is None or joins[position].side in ("LEFT", "FULL"):
            return False
        later = joins[position + 1 :]
    return not any(join.side in ("RIGHT", "FULL") for join in later)
