"""Running data API statements: one pooled connection, one transaction per request.

Every transaction starts with one round trip, ``BEGIN`` and the ``SET LOCAL`` settings for that
transaction only: ``statement_timeout`` from
``data.statement_timeout``; the caller's identity as ``rowgate.user_id``, ``rowgate.org_id``,
``rowgate.role`` and ``rowgate.groups`` (what the native policies of ``rowgate policy export``
read, for ``data.native_rls``); and ``role`` when ``data.role`` names a database role to run as.
Reads run in ``READ ONLY`` transactions.  Statement values are always bound, so PostgreSQL's prepared
statements are reused: every statement comes from the connection's asyncpg statement cache, is
parsed and planned once per connection, and is then only bound and executed (one round trip).
``/v1/sql`` reads through a portal that stops after ``data.max_rows`` rows.

Database errors become problem responses (``proxy.pgerrors``); a lost database is a 503 and the
pool reconnects by itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
from asyncpg.prepared_stmt import PreparedStatement

from auth.db import translated_errors
from config.errors import BadRequest, ValidationFailed
from config.schema import DataSettings
from proxy.pgerrors import problem_for
from rls.subject import Subject
from rls.template import Rewritten
from rls.values import from_json, from_text, internal_type


class DataConnection(asyncpg.Connection):  # type: ignore[misc]
    """An asyncpg connection that hands out prepared statements from its own statement cache.

    ``Connection.prepare`` always parses afresh; this goes through the cache that ``fetch`` uses
    (the protected ``_get_statement``, the documented way a subclass reaches it), so a statement
    is parsed and planned once per connection and then only bound and executed, while the
    ``PreparedStatement`` still gives its parameter and result types.
    """

    async def rowgate_statement(self, sql: str) -> PreparedStatement:
        """The cached prepared statement for ``sql``."""
        state = await self._get_statement(sql, None)
        return PreparedStatement(self, sql, state)


async def _init_connection(conn: asyncpg.Connection) -> None:
    # JSON columns as Python values both ways; UUIDs as text (what the JSON answer holds anyway).
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=_dumps, decoder=orjson.loads, schema="pg_catalog")
    await conn.set_type_codec("uuid", encoder=str, decoder=str, schema="pg_catalog", format="text")


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


@dataclass(frozen=True, slots=True)
class Result:
    """A statement's rows, their columns (name and type), and the row count."""

    rows: list[asyncpg.Record]
    columns: list[tuple[str, str]]
    rowcount: int


class Session:
    """The connection of one request's transaction."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def fetch(self, rewritten: Rewritten, params: Sequence[Any]) -> list[asyncpg.Record]:
        """The rows of a statement whose own ``LIMIT`` bounds them (the REST shapes), with values
        already of the right Python types.  rowgate's subject values are bound as text, which fits
        text and uuid columns; when a tenant or owner column has another type, asyncpg refuses the
        value before anything is sent, and the values are converted to the inferred types."""
        try:
            rows: list[asyncpg.Record] = await self.conn.fetch(rewritten.sql, *params, *rewritten.params)
        except asyncpg.InterfaceError as error:
            if not isinstance(error, ValueError) or not rewritten.params:
                raise
            return (await self.run(rewritten, params)).rows
        return rows

    async def run(
        self,
        rewritten: Rewritten,
        params: Sequence[Any],
        *,
        json_params: bool = False,
        max_rows: int | None = None,
    ) -> Result:
        """Run a rewritten statement with the caller's ``params`` followed by rowgate's.

        ``json_params``: the caller's values are JSON and are converted to the parameter types
        PostgreSQL inferred.  ``max_rows``: read at most that many rows (more is a 400) instead of
        relying on the statement's own ``LIMIT``.
        """
        statement = await self.conn.rowgate_statement(rewritten.sql)
        args = bind_args(statement.get_parameters(), params, rewritten.params, json_params)
        columns = [(a.name, a.type.name) for a in statement.get_attributes()]
        if rewritten.discard_rows:  # rows of rowgate's own new-row checks, not the caller's
            await statement.fetch(*args)
            return Result([], [], _rowcount(statement.get_statusmsg()))
        if max_rows is None or not columns:
            rows = await statement.fetch(*args)
            count = _rowcount(statement.get_statusmsg()) if not columns else len(rows)
            return Result(rows, columns, count)
        cursor = await statement.cursor(*args)
        rows = await cursor.fetch(max_rows + 1)
        if len(rows) > max_rows:
            raise BadRequest(
                f"The statement returns more than {max_rows} rows (data.max_rows): add a LIMIT.",
                code="too_many_rows",
            )
        return Result(rows, columns, len(rows))


def bind_args(
    types: Sequence[Any], caller: Sequence[Any], rowgate: Sequence[str], json_params: bool
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


class DataRunner:
    """The data API's pool and its transactions."""

    def __init__(self, pool: asyncpg.Pool, settings: DataSettings) -> None:
        self.pool = pool
        self.settings = settings

    @classmethod
    async def connect(cls, url: str, settings: DataSettings) -> DataRunner:
        """Open the data pool (its own, so slow data statements never starve rowgate's auth)."""
        with translated_errors():
            pool = await asyncpg.create_pool(
                url,
                min_size=settings.pool_min_size,
                max_size=settings.pool_max_size,
                connection_class=DataConnection,
                init=_init_connection,
                reset=_no_session_state,
                server_settings={"application_name": "rowgate-data"},
            )
        return cls(pool, settings)

    async def close(self) -> None:
        await self.pool.close()

    @contextlib.asynccontextmanager
    async def transaction(
        self, subject: Subject, *, readonly: bool, snapshot: bool = False
    ) -> AsyncIterator[Session]:
        """A transaction for ``subject`` (``snapshot``: every statement sees the same data);
        errors from the database become problem responses."""
        with translated_errors():
            async with self.pool.acquire() as conn:
                try:
                    await conn.execute(
                        begin_sql(subject, self.settings, readonly=readonly, snapshot=snapshot)
                    )
                    try:
                        yield Session(conn)
                    except BaseException:
                        await _rollback(conn)
                        raise
                    await conn.execute("COMMIT")
                except asyncpg.InterfaceError as error:
                    if not isinstance(error, ValueError):  # asyncpg's client-side DataError
                        raise
                    raise ValidationFailed(
                        f"A value does not fit its parameter: {error}", code="invalid_parameter"
                    ) from None
                except asyncpg.PostgresError as error:
                    if isinstance(error, asyncpg.exceptions.InvalidCachedStatementError):
                        await conn.reload_schema_state()
                    if isinstance(error, _CONNECTION_STATES):
                        raise
                    raise problem_for(error) from error


def begin_sql(subject: Subject, settings: DataSettings, *, readonly: bool, snapshot: bool) -> str:
    """``BEGIN`` and the transaction's ``SET LOCAL`` settings, in one simple query (one round trip).

    ``SET`` takes no bind parameters, so the values are written as ``E''`` literals with every
    backslash and quote escaped (what libpq's ``PQescapeLiteral`` does): a literal that no value
    can end, whatever ``standard_conforming_strings`` says.  Subject ids hold no control
    characters (``rls.subject`` refuses them); NUL is refused here as well.
    """
    isolation = "REPEATABLE READ" if snapshot else "READ COMMITTED"
    mode = "READ ONLY" if readonly else "READ WRITE"
    values = {
        "statement_timeout": str(int(settings.statement_timeout.total_seconds() * 1000)),
        "rowgate.user_id": subject.user_id or "",
        "rowgate.org_id": subject.tenant_id or "",
        "rowgate.role": subject.role or "",
        "rowgate.groups": ",".join(sorted(subject.groups)),
    }
    if settings.role:
        values["role"] = settings.role
    sets = "".join(f"; SET LOCAL {name} = {pg_literal(value)}" for name, value in values.items())
    return f"BEGIN ISOLATION LEVEL {isolation} {mode}{sets}"


def pg_literal(value: str) -> str:
    """``value`` as a PostgreSQL escape-string literal that holds exactly ``value``."""
    if "\x00" in value:
        raise ValueError("a setting cannot hold the NUL character")
    return "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


async def _rollback(conn: asyncpg.Connection) -> None:
    # The pool rolls back whatever is still open when the connection comes back (a cancelled
    # request may leave a statement running), so a failure here changes nothing.
    with contextlib.suppress(Exception):
        if conn.is_in_transaction():
            await conn.execute("ROLLBACK")


async def _no_session_state(conn: asyncpg.Connection) -> None:
    """The pool's reset: nothing to undo.  Every setting is transaction-local, and statements
    that could leave session state (SET, LISTEN, advisory locks, cursors WITH HOLD, temporary
    tables) are refused by the rewriter; the pool itself rolls back an open transaction."""


#: Errors that ``translated_errors`` turns into 503/504 (a lost or restarting server, a timeout).
_CONNECTION_STATES = (
    asyncpg.exceptions.QueryCanceledError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.ConnectionFailureError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
)


def _rowcount(status: str | None) -> int:
    last = (status or "").rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0
