"""Running rewritten statements on PostgreSQL (asyncpg): the one I/O edge of the engine, and the
one path every statement rowgate runs takes (the data API's runner delegates here).

``run`` opens a transaction on the given connection (a savepoint when one is already open),
tells the database who the caller is (``set_config(..., true)``: ``SET LOCAL``, gone at the end
of the transaction), optionally bounds the statement's time (``statement_timeout``, enforced by
PostgreSQL), and
``execute``s the statement.  Callers that open their own transactions in one round trip (the
data API) send ``begin_sql(...)`` instead and call ``execute`` directly; a single read behind the
second wall makes them in its own statement (``with_settings``).  The settings are the ones the
native policies of ``rls.export`` read:

    rowgate.user_id   the subject's user id ('' when none)
    rowgate.org_id    the subject's tenant id ('' when none)
    rowgate.role      the subject's role name ('' when none)
    rowgate.groups    the subject's groups, comma-separated and sorted ('admin,user')
    rowgate.policy    the policy version whose native policies hold (behind the second wall)

``execute`` takes the statement from the connection's asyncpg statement cache (parsed and
planned once per connection, then only bound and run: one round trip; reads through
``Connection.fetch``, everything else through ``cached_statement``), binds the caller's
parameters followed by rowgate's (converted to the types PostgreSQL inferred when they do not
fit as they are), reads at most ``max_rows`` rows through a portal when asked, and drops the
rows of rowgate's own new-row checks (``Rewritten.discard_rows``).

A write refused by the database itself (rowgate's run-time checks of ``rls.raising``, or the
native policies as a second layer) becomes ``WriteRefused``; other database errors are left to
the caller, which knows how to present them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import asyncpg
from asyncpg.prepared_stmt import PreparedStatement

from rowgate.errors import BadRequest, ResponseTooLarge, RowgateError, ValidationFailed
from rowgate.proxy.data.bounded import SIZE_MARKER, Columns, bounded
from rowgate.proxy.data.jsonrows import INEXACT_MARKER, json_rows
from rowgate.proxy.data.values import from_json, from_text, internal_type
from rowgate.rls.errors import WriteRefused
from rowgate.rls.owners import OWNER, TRIGGER_MARK
from rowgate.rls.raising import MARKER as RAISE_MARKER
from rowgate.rls.subject import Subject
from rowgate.rls.template import Rewritten
from rowgate.rls.writes import violation

SET_SUBJECT = (
    "SELECT set_config('rowgate.user_id', $1, true), set_config('rowgate.org_id', $2, true), "
    "set_config('rowgate.role', $3, true), set_config('rowgate.groups', $4, true)"
)
SET_SUBJECT_AND_TIMEOUT = SET_SUBJECT + ", set_config('statement_timeout', $5, true)"


@dataclass(frozen=True, slots=True)
class RunAs:
    """Who a transaction runs as behind the second wall: the least-privileged ``role``, and the
    version of the policy file whose native policies hold for it (``rowgate.policy``)."""

    role: str
    policy: str


@dataclass(frozen=True, slots=True)
class Result:
    """What a statement returned: its rows (RETURNING rows for writes), status, row count, and
    (when ``execute`` was asked to ``describe``) its result columns as ``(name, type)``."""

    rows: list[asyncpg.Record]
    status: str
    rowcount: int
    columns: tuple[tuple[str, str], ...] = ()


async def run(
    conn: asyncpg.Connection,
    rewritten: Rewritten,
    subject: Subject,
    params: Sequence[Any] = (),
    *,
    max_rows: int | None = None,
    statement_timeout: timedelta | None = None,
) -> Result:
    """Execute ``rewritten`` for ``subject`` in a transaction of its own; ``statement_timeout``
    bounds the statement (PostgreSQL cancels it: ``QueryCanceledError``), ``max_rows`` its
    result (see ``execute``)."""
    async with conn.transaction():
        await set_subject(conn, subject, statement_timeout)
        return await execute(conn, rewritten, params, max_rows=max_rows)


async def set_subject(
    conn: asyncpg.Connection, subject: Subject, statement_timeout: timedelta | None = None
) -> None:
    """Set the ``rowgate.*`` settings (and ``statement_timeout``) for the current transaction."""
    values = subject_settings(subject).values()
    if statement_timeout is None:
        await conn.execute(SET_SUBJECT, *values)
    else:
        await conn.execute(SET_SUBJECT_AND_TIMEOUT, *values, str(milliseconds(statement_timeout)))


def begin_sql(
    subject: Subject,
    *,
    readonly: bool,
    snapshot: bool = False,
    statement_timeout: timedelta | None = None,
    run_as: RunAs | None = None,
) -> str:
    """``BEGIN`` and the transaction's ``SET LOCAL`` settings, in one simple query (one round
    trip): the subject's ``rowgate.*`` settings, ``statement_timeout`` when given, and with
    ``run_as`` the policy version and ``role`` (last: the settings are rowgate's own doing).

    ``SET`` takes no bind parameters, so the values are written as ``E''`` literals with every
    backslash and quote escaped (what libpq's ``PQescapeLiteral`` does): a literal that no value
    can end, whatever ``standard_conforming_strings`` says.  Subject ids hold no control
    characters (``rls.subject`` refuses them); NUL is refused here as well.
    """
    isolation = "REPEATABLE READ" if snapshot else "READ COMMITTED"
    mode = "READ ONLY" if readonly else "READ WRITE"
    values = {} if statement_timeout is None else {"statement_timeout": str(milliseconds(statement_timeout))}
    values.update(subject_settings(subject))
    if run_as is not None:
        values["rowgate.policy"] = run_as.policy
        values["role"] = run_as.role
    sets = "".join(f"; SET LOCAL {name} = {pg_literal(value)}" for name, value in values.items())
    return f"BEGIN ISOLATION LEVEL {isolation} {mode}{sets}"


def pg_literal(value: str) -> str:
    """``value`` as a PostgreSQL escape-string literal that holds exactly ``value``."""
    if "\x00" in value:
        raise ValueError("a setting cannot hold the NUL character")
    return "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


#: Starts the message of a read whose settings would have been made as another role than the
#: second wall's (followed by nothing the caller gave: the role is rowgate's own).
ROLE_MARKER = "rowgate read not as the second wall role"


def with_settings(rewritten: Rewritten, caller_params: int, subject: Subject, run_as: RunAs) -> Rewritten:
    """``rewritten`` (a read over ordinary tables) as one statement that first makes the settings
    ``begin_sql`` would make (the subject's, the policy version, ``transaction_read_only``), each
    with ``set_config(..., true)``, then reads: one round trip, in the implicit transaction of its
    own statement, so the settings are gone when it ends, however it ends.

    The settings come from a one-row subquery on the outer side of a ``LATERAL`` join whose inner
    side is the read, gated on it (``OFFSET 0`` keeps each side a subquery of its own): PostgreSQL
    produces that row before it starts the read, and evaluates the native policies' ``current_setting``
    only while the read runs (an ordinary table's row security, its pseudo-constant filters, index
    conditions and the InitPlans of the policies' scalar subqueries are all evaluated then).
    Before the row, no setting is there, and the policies let nothing through.  A partitioned
    table is not for this: PostgreSQL prunes its partitions when the statement starts, before the
    settings, and would prune them all.

    The statement runs as the connection's role, which must be ``run_as.role`` (``SET ROLE``
    before, as a session setting: the same role for every caller); the row raises ``ROLE_MARKER``
    otherwise, before anything is read.  The values are bound after ``caller_params`` and
    ``rewritten``'s own parameters.
    """
    values = (run_as.role, *subject_settings(subject).values(), run_as.policy)
    return replace(
        rewritten,
        sql=_with_settings(rewritten.sql, caller_params + len(rewritten.params) + 1),
        params=(*rewritten.params, *values),
    )


@functools.lru_cache(maxsize=4096)
def _with_settings(sql: str, first: int) -> str:
    role, user, org, role_name, groups, policy = (f"${first + i}" for i in range(6))
    refusal = f"CAST('{ROLE_MARKER}' || left(current_user::text, 0) AS boolean)"
    settings = (
        f"SELECT CASE WHEN current_user = {role}::text THEN true ELSE {refusal} END, "
        f"set_config('rowgate.user_id', {user}, true), set_config('rowgate.org_id', {org}, true), "
        f"set_config('rowgate.role', {role_name}, true), set_config('rowgate.groups', {groups}, true), "
        f"set_config('rowgate.policy', {policy}, true), set_config('transaction_read_only', 'on', true) "
        "OFFSET 0"
    )
    return (
        f'SELECT "rowgate.read".* FROM ({settings}) AS "rowgate.settings"(ready, u, o, r, g, p, ro) '
        f'CROSS JOIN LATERAL (SELECT * FROM ({sql}) AS "rowgate.statement" '
        f'WHERE "rowgate.settings".ready OFFSET 0) AS "rowgate.read"'
    )


async def execute(
    conn: asyncpg.Connection,
    rewritten: Rewritten,
    params: Sequence[Any] = (),
    *,
    json_params: bool = False,
    max_rows: int | None = None,
    max_bytes: int | None = None,
    describe: bool = False,
) -> Result:
    """Run ``rewritten`` in the caller's transaction with ``params`` followed by rowgate's.

    ``json_params``: the caller's values are JSON and are converted to the parameter types
    PostgreSQL inferred (``ValidationFailed`` when one does not fit).  ``max_rows``: read at most
    that many rows (more is ``BadRequest`` ``too_many_rows``) instead of relying on the
    statement's own ``LIMIT``.  ``max_bytes``: the database refuses to produce rows beyond that
    many bytes (``ResponseTooLarge``; see ``proxy.data.bounded``).  ``describe``: also return the result
    columns' names and types.  A row-security refusal by the database is raised as
    ``WriteRefused``.
    """
    try:
        if rewritten.kind == "select" and not (json_params or max_rows is not None or describe):
            return await _read(conn, rewritten, params, max_bytes)
        return await _run_statement(conn, rewritten, params, json_params, max_rows, max_bytes, describe)
    except asyncpg.PostgresError as error:
        refusal = await _refusal(conn, error, rewritten)
        if refusal is error:
            raise
        raise refusal from error


async def _refusal(conn: asyncpg.Connection, error: asyncpg.PostgresError, rewritten: Rewritten) -> Exception:
    """What a statement's database error is raised as (``translated``); a table changed under
    the cached plan makes the connection prepare afresh next time (asyncpg drops its cache by
    itself only for errors raised through ``Connection.fetch``)."""
    if isinstance(error, asyncpg.exceptions.InvalidCachedStatementError):
        await conn.reload_schema_state()
    return translated(error, rewritten)


async def read_json(
    conn: asyncpg.Connection, rewritten: Rewritten, params: Sequence[Any], max_bytes: int
) -> str | None:
    """The rows of a read as the JSON array the data API answers, written by the database
    (``proxy.data.jsonrows``) and refused beyond ``max_bytes`` as ``execute`` refuses them; ``None``
    when the rows are to be read as records instead: a column of a type it cannot write exactly,
    a value it cannot write exactly (the statement failed: so only outside a transaction), or a
    rowgate value to convert to the type PostgreSQL inferred (``execute`` does)."""
    if rewritten.kind != "select" or conn.is_in_transaction():
        return None
    attributes = (await cached_statement(conn, rewritten.sql)).get_attributes()
    columns = tuple((a.name, a.type.name) for a in attributes)
    sql = json_rows(
        bounded(rewritten.sql, max_bytes, columns),
        tuple((a.name, a.type.name, a.type.schema) for a in attributes),
    )
    if sql is None:
        return None
    try:
        answer: str = await conn.fetchval(sql, *params, *rewritten.params)
    except asyncpg.InterfaceError as error:
        if _misfit(error, rewritten):
            return None
        raise
    except asyncpg.PostgresError as error:
        if INEXACT_MARKER in str(error):
            return None
        refusal = await _refusal(conn, error, rewritten)
        if refusal is error:
            raise
        raise refusal from error
    return answer


async def _read(
    conn: asyncpg.Connection, rewritten: Rewritten, params: Sequence[Any], max_bytes: int | None
) -> Result:
    """A read whose rows are all wanted: ``Connection.fetch``, the same statement cache and the
    cheapest call (a read's status is ``SELECT <rows>``)."""
    sql = rewritten.sql
    if max_bytes is not None:
        sql = bounded(sql, max_bytes, _columns(await cached_statement(conn, sql)))
    try:
        rows: list[asyncpg.Record] = await conn.fetch(sql, *params, *rewritten.params)
    except asyncpg.InterfaceError as error:
        if not _misfit(error, rewritten):
            raise
        return await _run_statement(conn, rewritten, params, False, None, max_bytes, False)
    return Result(rows, f"SELECT {len(rows)}", len(rows))


async def _run_statement(
    conn: asyncpg.Connection,
    rewritten: Rewritten,
    params: Sequence[Any],
    json_params: bool,
    max_rows: int | None,
    max_bytes: int | None,
    describe: bool,
) -> Result:
    statement = await cached_statement(conn, rewritten.sql)
    if max_bytes is not None and statement.get_attributes() and not rewritten.discard_rows:
        write = rewritten.kind != "select"
        sql = bounded(rewritten.sql, max_bytes, _columns(statement), write=write)
        statement = await cached_statement(conn, sql)
    if json_params:
        args = bind_args(statement.get_parameters(), params, rewritten.params, json_params=True)
    else:
        args = [*params, *rewritten.params]
    try:
        rows = await _rows(statement, args, max_rows, rewritten.discard_rows)
    except asyncpg.InterfaceError as error:
        if json_params or not _misfit(error, rewritten):
            raise
        args = bind_args(statement.get_parameters(), params, rewritten.params, json_params=False)
        rows = await _rows(statement, args, max_rows, rewritten.discard_rows)
    status = statement.get_statusmsg() or ""
    if rewritten.discard_rows:
        return Result([], status, _rowcount(status, []))
    columns = tuple((a.name, a.type.name) for a in statement.get_attributes()) if describe else ()
    return Result(rows, status, _rowcount(status, rows), columns)


def _columns(statement: PreparedStatement) -> Columns:
    return tuple((a.name, a.type.name) for a in statement.get_attributes())


def _misfit(error: asyncpg.InterfaceError, rewritten: Rewritten) -> bool:
    """Whether asyncpg refused a value before sending anything (its client-side ``DataError``)
    for a statement with rowgate values: rowgate's ids are text, and a tenant column of another
    type (bigint, say) needs them converted to the type PostgreSQL inferred."""
    return isinstance(error, ValueError) and bool(rewritten.params)


async def cached_statement(conn: asyncpg.Connection, sql: str) -> PreparedStatement:
    """The prepared statement for ``sql`` from the connection's asyncpg statement cache.

    asyncpg 0.32 offers no public way to this: ``Connection.prepare`` always parses afresh (a
    round trip and no plan reuse), and ``fetch``/``execute``/``cursor``, which do use the cache,
    give neither the parameter and result types (needed to convert JSON values and to describe
    an empty result) nor the status of a statement that returns rows.  So this one function
    uses the protected ``Connection._get_statement`` that ``fetch`` itself uses, and wraps the
    cached state the way ``Connection.prepare`` does.
    """
    get_statement = conn._get_statement
    state = await get_statement(sql, None)
    return PreparedStatement(get_statement.__self__, sql, state)


async def _rows(
    statement: PreparedStatement, args: Sequence[Any], max_rows: int | None, discard: bool
) -> list[asyncpg.Record]:
    if max_rows is None or discard or not statement.get_attributes():
        rows: list[asyncpg.Record] = await statement.fetch(*args)
        return rows
    cursor = await statement.cursor(*args)
    rows = await cursor.fetch(max_rows + 1)
    if len(rows) > max_rows:
        raise BadRequest(
            f"The statement returns more than {max_rows} rows: add a LIMIT.", code="too_many_rows"
        )
    return rows


def bind_args(
    types: Sequence[Any], caller: Sequence[Any], rowgate: Sequence[str], *, json_params: bool
) -> list[Any]:
    """The values to bind: the caller's (converted from JSON when asked), then rowgate's subject
    values converted from text to the types PostgreSQL inferred for them (a tenant column may be
    a ``bigint``)."""
    if len(types) != len(caller) + len(rowgate):
        raise BadRequest(
            f"The statement uses {len(types) - len(rowgate)} parameter(s) but {len(caller)} were given.",
            code="bad_parameter",
        )
    args = list(caller)
    if json_params:
        for index, value in enumerate(caller):
            try:
                args[index] = from_json(value, internal_type(types[index].name))
            except ValueError as error:
                raise ValidationFailed(
                    f"Parameter ${index + 1}: {error}.",
                    errors=[{"field": f"params[{index}]", "message": str(error)}],
                    code="invalid_parameter",
                ) from None
    offset = len(caller)
    for index, value in enumerate(rowgate):
        kind = types[offset + index].name
        args.append(value if kind in _TEXT_TYPES else from_text(value, internal_type(kind)))
    return args


_TEXT_TYPES = frozenset({"text", "uuid", "varchar", "bpchar", "name", "unknown", "citext"})


def translated(error: asyncpg.PostgresError, rewritten: Rewritten | None = None) -> Exception:
    """``WriteRefused`` (with the ``sqlstate``) for a row-security refusal by the database,
    ``ResponseTooLarge`` for an answer ``bounded`` refused, else ``error`` itself.  A refusal by
    the native policies (the second wall, which checks a new row before rowgate's own checks in
    the statement see it) names the table and policy the written statement ``rewritten`` ran
    under, as rowgate's own refusals do."""
    message = str(getattr(error, "message", "") or error)
    state = str(getattr(error, "sqlstate", "") or "")
    refusal: RowgateError
    if SIZE_MARKER in message:
        limit = message.split(SIZE_MARKER, 1)[1].split('"', 1)[0]
        refusal = ResponseTooLarge(
            f"The answer is larger than {limit} bytes (data.max_response_bytes): ask for fewer rows "
            "or columns, or for shorter values.",
            code="response_too_large",
        )
    elif RAISE_MARKER in message:
        refusal = WriteRefused(message.split(RAISE_MARKER, 1)[1].split('"', 1)[0], code="write_refused")
    elif state == "42501" and "row-level security" in message:
        refusal = WriteRefused(_native_refusal(rewritten, TRIGGER_MARK in message), code="write_refused")
    else:
        unchanged: Exception = error
        return unchanged
    if state:
        refusal.extra["sqlstate"] = state
    return refusal


def _native_refusal(rewritten: Rewritten | None, owner: bool) -> str:
    written = [r for r in rewritten.tables if r.operation == rewritten.kind] if rewritten else []
    if not written:
        return "the database's row-level security policy refused this write"
    if owner:
        return violation(written[0].table, "new", OWNER)
    return (
        f"the new row of {written[0].table} would not pass its {written[0].operation} policy (the "
        "database's row-level security refused it: its tenant, owner or filtered columns hold "
        "values you may not write)"
    )


def subject_settings(subject: Subject) -> dict[str, str]:
    """The ``rowgate.*`` settings that tell the database who is asking (the native policies read them)."""
    return {
        "rowgate.user_id": subject.user_id or "",
        "rowgate.org_id": subject.tenant_id or "",
        "rowgate.role": subject.role or "",
        "rowgate.groups": ",".join(sorted(subject.groups)),
    }


def milliseconds(timeout: timedelta) -> int:
    """``timeout`` in whole milliseconds, as ``statement_timeout`` reads it (0: no timeout)."""
    return int(timeout.total_seconds() * 1000)  # 0: no timeout, as PostgreSQL reads it


def _rowcount(status: str, rows: list[asyncpg.Record]) -> int:
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else len(rows)
