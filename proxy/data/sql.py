"""``POST /v1/sql``: one statement, rewritten for the caller and run (or, for admins, explained).

The caller's parameters are JSON values bound to ``$1 .. $n`` after conversion to the types
PostgreSQL infers for them; rowgate's own values (tenant, user) are bound after them.  The result
is read through a portal that stops after ``data.max_rows`` rows, and the database refuses to
produce more than ``data.max_response_bytes`` of it, so no statement can make rowgate hold an
unbounded result.  Reads run in read-only transactions.  Before anything runs, the caller must
hold the permission of every operation the statement takes on every table
(``proxy.data.access``).

A read's plain value literals (``WHERE id = 42``, ``title = 'a'``) are taken out as parameters
before the rewriter sees it (``rls.literals``), bound after the caller's own, so that reads
differing only in those values share one cached template.  The statement as written decides
whenever that path cannot answer exactly as it would: the rewriter refuses the normalised
statement (the error then comes from the statement as written), PostgreSQL cannot prepare it
(tried once per process in a savepoint), or a string's parameter takes a type whose value is not
the text itself (``rls.literals.TEXT_LIKE``: an ``integer`` compared with ``'42'``, a date).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Literal

import asyncpg

from rowgate.errors import BadRequest
from rowgate.proxy.data.access import Caller
from rowgate.proxy.data.execute import cached_statement
from rowgate.proxy.data.policy import DataPolicy
from rowgate.proxy.data.rest import DataApi
from rowgate.rls.errors import Refusal
from rowgate.rls.literals import TEXT_LIKE, Normalised, normalise
from rowgate.rls.rewrite import MAX_SQL_LENGTH
from rowgate.rls.template import LRU, Permit, Rewritten

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
    _check(sql, params)
    found = _with_literals(policy, caller, sql, params)
    rewritten = found[0] if found else _rewrite(policy, caller, sql, params, caller.access.permit)
    readonly = rewritten.kind == "select"
    async with api.runner.transaction(caller.subject, run_as=policy.runs_as(), readonly=readonly) as session:
        if found and not await _fits(session.conn, found[0], found[1], len(params)):
            rewritten = _rewrite(policy, caller, sql, params, caller.access.permit)
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


def _check(sql: str, params: Sequence[Any]) -> None:
    if not sql.strip():
        raise BadRequest("Send the statement in sql.", code="empty_statement")
    if len(params) > MAX_PARAMS:
        raise BadRequest(f"At most {MAX_PARAMS} parameters per statement.", code="too_many_parameters")


def _rewrite(
    policy: DataPolicy, caller: Caller, sql: str, params: Sequence[Any], permit: Permit | None
) -> Rewritten:
    _check(sql, params)
    return policy.rewriter.rewrite(sql, caller.subject, len(params), permit=permit)


def _with_literals(
    policy: DataPolicy, caller: Caller, sql: str, params: Sequence[Any]
) -> tuple[Rewritten, Normalised] | None:
    """The read rewritten with its literals as parameters (their values first among rowgate's
    own), once the caller's permissions allow it; ``None`` when the statement as written must
    decide (it has no such literals, writes, or the rewriter refuses the normalised form)."""
    rewriter = policy.rewriter
    if rewriter.literals:
        return None
    normalised = normalise(sql, len(params), max_length=MAX_SQL_LENGTH)
    if normalised is None:
        return None
    try:
        rewritten = rewriter.rewrite(normalised.sql, caller.subject, len(params) + len(normalised.values))
    except Refusal:
        return None
    if rewritten.kind != "select":
        return None
    caller.access.permit(rewritten.permissions)
    return dataclasses.replace(rewritten, params=(*normalised.values, *rewritten.params)), normalised


#: Rewritten statements with literals as parameters that PostgreSQL has prepared once.
_PREPARED: LRU[str, bool] = LRU(4096)


async def _fits(conn: asyncpg.Connection, rewritten: Rewritten, normalised: Normalised, offset: int) -> bool:
    """Whether PostgreSQL prepares ``rewritten`` and gives each literal's parameter the type that
    reads its value as the literal did.  The first time, the statement is prepared in a savepoint
    (a failure must not end the caller's transaction: the statement as written runs instead)."""
    if _PREPARED.get(rewritten.sql):
        statement = await cached_statement(conn, rewritten.sql)
    else:
        await conn.execute("SAVEPOINT rowgate_literals")
        try:
            statement = await cached_statement(conn, rewritten.sql)
        except asyncpg.PostgresError:
            await conn.execute("ROLLBACK TO SAVEPOINT rowgate_literals; RELEASE SAVEPOINT rowgate_literals")
            return False
        await conn.execute("RELEASE SAVEPOINT rowgate_literals")
        _PREPARED.put(rewritten.sql, True)
    types = [t.name for t in statement.get_parameters()[offset : offset + len(normalised.kinds)]]
    return len(types) == len(normalised.kinds) and all(
        name in TEXT_LIKE if kind == "text" else name == kind
        for name, kind in zip(types, normalised.kinds, strict=True)
    )
