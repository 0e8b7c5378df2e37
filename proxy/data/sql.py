"""``POST /v1/sql``: one statement, rewritten for the caller and run (or, for admins, explained).

The caller's parameters are JSON values bound to ``$1 .. $n`` after conversion to the types
PostgreSQL infers for them; rowgate's own values (tenant, user) are bound after them.  The result
is read through a portal that stops after ``data.max_rows`` rows, and the database refuses to
produce more than ``data.max_response_bytes`` of it, so no statement can make rowgate hold an
unbounded result.  Reads run in read-only transactions.  Before anything runs, the caller must
hold the permission of every operation the statement takes on every table
(``proxy.data.access``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from rowgate.errors import BadRequest
from rowgate.proxy.data.access import Caller
from rowgate.proxy.data.policy import DataPolicy
from rowgate.proxy.data.rest import DataApi
from rowgate.rls.template import Permit, Rewritten

MAX_PARAMS = 1000


RowMode = Literal["object", "array"]


async def run_sql(
    api: DataApi, caller: Caller, sql: str, params: Sequence[Any], row_mode: RowMode = "object"
) -> dict[str, Any]:
    """``{"rows": [...], "rowCount": n, "columns": [{"name", "type"}]}`` for one statement.

    ``row_mode``: each row an object of column name to value (the names must differ), or an
    array of the values in the order of ``columns`` (any names, repeated ones too: ``SELECT *``
    over a self-join)."""
    policy = api.policy
    rewritten = _rewrite(policy, caller, sql, params, caller.access.permit)
    readonly = rewritten.kind == "select"
    async with api.runner.transaction(caller.subject, run_as=policy.runs_as(), readonly=readonly) as session:
        result = await session.run(rewritten, params, json_params=True, max_rows=api.settings.max_rows)
    names = [name for name, _ in result.columns]
    if row_mode == "array":
        rows: list[Any] = [list(row) for row in result.rows]
    elif len(set(names)) != len(names):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        raise BadRequest(
            f"Give each result column a distinct name (AS ...), or ask for rowMode array: "
            f"{', '.join(duplicates)} repeat.",
            code="duplicate_column",
        )
    else:
        rows = [dict(row) for row in result.rows]
    return {
        "rows": rows,
        "rowCount": result.rowcount,
        "columns": [{"name": name, "type": kind} for name, kind in result.columns],
    }


def explain_sql(api: DataApi, caller: Caller, sql: str, params: Sequence[Any]) -> dict[str, Any]:
    """The rewritten statement, the permissions it needs and the rule applied to each table,
    without running it."""
    policy = api.policy
    rewritten = _rewrite(policy, caller, sql, params, None)
    return {
        "sql": rewritten.sql,
        "kind": rewritten.kind,
        "params": list(params),
        "rowgateParams": list(rewritten.params),
        "policyVersion": policy.version,
        "permissions": list(rewritten.permissions),
        "tables": [
            {
                "table": rule.table,
                "alias": rule.alias,
                "operation": rule.operation,
                "groups": list(rule.groups),
                "rule": rule.rule,
                "hidden": list(rule.hidden),
            }
            for rule in rewritten.tables
        ],
    }


def _rewrite(
    policy: DataPolicy, caller: Caller, sql: str, params: Sequence[Any], permit: Permit | None
) -> Rewritten:
    if not sql.strip():
        raise BadRequest("Send the statement in sql.", code="empty_statement")
    if len(params) > MAX_PARAMS:
        raise BadRequest(f"At most {MAX_PARAMS} parameters per statement.", code="too_many_parameters")
    return policy.rewriter.rewrite(sql, caller.subject, len(params), permit=permit)
