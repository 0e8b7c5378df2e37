"""Running data API statements: one pooled connection, one transaction per request.

Every connection of the data pool runs with ``statement_timeout`` from ``data.statement_timeout``
(a session setting given when it connects).  Every transaction starts with one round trip,
``BEGIN`` and the ``SET LOCAL`` settings for that transaction only (``proxy.data.execute.begin_sql``): the
caller's identity as ``rowgate.user_id``, ``rowgate.org_id``, ``rowgate.role`` and
``rowgate.groups``, the policy version as ``rowgate.policy`` (what the native policies of the
second wall read), and ``role``: the least-privileged role of the second wall (``data.role``) that
the statement runs as.  Reads run in ``READ ONLY`` transactions.

A read that is one statement rowgate built itself (a REST ``GET``, an existence check, an owner
check) needs no transaction of its own: it runs alone, in its own implicit transaction, one round
trip instead of three.  Without a role to switch to (``data.role: null``, or the second wall is
down in ``mode: dev``) it needs no settings either.  Behind the second wall, over ordinary tables,
its statement makes the settings itself before it reads (``proxy.data.execute.with_settings``:
``set_config(..., true)``, gone with the statement's own transaction, whatever happens to it), as
the second wall's role, which the connection takes as a session setting (``SET ROLE``, the same
for every caller: no caller's identity stays on a connection).  The runner remembers each
connection's role, and forgets it before it changes it (a change cut short is made again).  Over
a partitioned table, a view or a foreign table such a read keeps its transaction.

Statements run through ``proxy.data.execute.execute``, the engine's one runner: from the connection's
statement cache (parsed and planned once per connection, then one round trip), with ``/v1/sql``
reading through a portal that stops after ``data.max_rows`` rows.

Database errors become problem responses (``proxy.data.pgerrors``); a lost database is a 503 and the
pool reconnects by itself.
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
import orjson

from rowgate.auth.db import SERVER_AWAY, FairPool, translated_errors
from rowgate.config.data import DataSettings
from rowgate.errors import BadRequest, ServiceUnavailable, ValidationFailed
from rowgate.proxy.data.execute import (
    ROLE_MARKER,
    Result,
    RunAs,
    begin_sql,
    execute,
    milliseconds,
    pg_literal,
    read_json,
    with_settings,
)
from rowgate.proxy.data.pgerrors import problem_for
from rowgate.rls.subject import Subject
from rowgate.rls.template import Rewritten

log = logging.getLogger("rowgate.data")


async def _init_connection(conn: asyncpg.Connection) -> None:
    # JSON columns as Python values both ways; UUIDs as text (what the JSON answer holds anyway).
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=_dumps, decoder=orjson.loads, schema="pg_catalog")
    await conn.set_type_codec("uuid", encoder=str, decoder=str, schema="pg_catalog", format="text")


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


class Session:
    """The connection of one request's transaction, and the most bytes one answer may hold;
    ``settings``: the caller and role each statement makes its own settings for (a single read
    behind the second wall, outside a transaction)."""

    def __init__(
        self, conn: asyncpg.Connection, max_bytes: int, settings: tuple[Subject, RunAs] | None = None
    ) -> None:
        self.conn = conn
        self.max_bytes = max_bytes
        self.settings = settings

    async def fetch(self, rewritten: Rewritten, params: Sequence[Any]) -> list[asyncpg.Record]:
        """The rows of a statement whose own ``LIMIT`` bounds them (the REST shapes), with values
        already of the right Python types."""
        statement = self._statement(rewritten, params)
        return (await execute(self.conn, statement, params, max_bytes=self.max_bytes)).rows

    async def fetch_json(self, rewritten: Rewritten, params: Sequence[Any]) -> str | None:
        """The rows of a read as the JSON array the data API answers, written by the database;
        ``None`` when they are to be ``fetch``ed instead (``proxy.data.execute.read_json``)."""
        return await read_json(self.conn, self._statement(rewritten, params), params, self.max_bytes)

    async def run(
        self,
        rewritten: Rewritten,
        params: Sequence[Any],
        *,
        json_params: bool = False,
        max_rows: int | None = None,
    ) -> Result:
        """Run a rewritten statement with the caller's ``params`` followed by rowgate's, and
        describe its result columns.

        ``json_params``: the caller's values are JSON and are converted to the parameter types
        PostgreSQL inferred.  ``max_rows``: read at most that many rows (more is a 400) instead of
        relying on the statement's own ``LIMIT``.  Either way the database refuses an answer of
        more than ``data.max_response_bytes`` before sending it (a 422).
        """
        return await execute(
            self.conn,
            self._statement(rewritten, params),
            params,
            json_params=json_params,
            max_rows=max_rows,
            max_bytes=self.max_bytes,
            describe=True,
        )

    def _statement(self, rewritten: Rewritten, params: Sequence[Any]) -> Rewritten:
        if self.settings is None:
            return rewritten
        return with_settings(rewritten, len(params), *self.settings)


class DataRunner:
    """The data API's pool and its transactions."""

    def __init__(self, pool: asyncpg.Pool, settings: DataSettings) -> None:
        self.pool = FairPool(pool)
        self.settings = settings
        # Each connection's session role ("": its login's), by asyncpg's own connection object
        # (a new connection is a new object, and starts as the login).
        self._roles: weakref.WeakKeyDictionary[object, str] = weakref.WeakKeyDictionary()

    @classmethod
    async def connect(cls, url: str, settings: DataSettings) -> DataRunner:
        """Open the data pool (its own, so slow data statements never starve rowgate's auth)."""
        with translated_errors():
            pool = await asyncpg.create_pool(
                url,
                min_size=settings.pool_min_size,
                max_size=settings.pool_max_size,
                init=_init_connection,
                reset=_no_session_state,
                server_settings={
                    "application_name": "rowgate-data",
                    "statement_timeout": str(milliseconds(settings.statement_timeout)),
                    # rowgate verifies its SQL as sqlglot reads it, with backslashes in '...'
                    # literal (a server or role set to the old escaping would read it otherwise)
                    "standard_conforming_strings": "on",
                },
            )
        return cls(pool, settings)

    async def close(self) -> None:
        await self.pool.close()

    @contextlib.asynccontextmanager
    async def transaction(
        self, subject: Subject, *, run_as: RunAs | None, readonly: bool, snapshot: bool = False
    ) -> AsyncIterator[Session]:
        """A transaction for ``subject`` behind the second wall when ``run_as`` says (``snapshot``:
        every statement sees the same data); errors from the database become problem responses."""
        begin = begin_sql(subject, readonly=readonly, snapshot=snapshot, run_as=run_as)
        async with self._connection() as conn:
            if run_as is None:
                await self._take_role(conn, None)
            await conn.execute(begin)
            try:
                yield Session(conn, self.settings.max_response_bytes)
            except BaseException:
                await _rollback(conn)
                raise
            await conn.execute("COMMIT")

    @contextlib.asynccontextmanager
    async def single_read(
        self, subject: Subject, *, run_as: RunAs | None, ordinary: bool = False
    ) -> AsyncIterator[Session]:
        """Where to run one read statement rowgate built itself: alone on a pooled connection.
        Behind the second wall (``run_as``: its role, and the caller's settings for the native
        policies) the statement makes the settings itself as the role when it reads ``ordinary``
        tables only (``TableInfo.ordinary``), else it runs in a read-only transaction.  Never for
        the caller's own SQL, which always runs in a transaction."""
        if run_as is not None and not ordinary:
            async with self.transaction(subject, run_as=run_as, readonly=True) as session:
                yield session
            return
        async with self._connection() as conn:
            await self._take_role(conn, run_as.role if run_as else None)
            settings = (subject, run_as) if run_as else None
            yield Session(conn, self.settings.max_response_bytes, settings)

    @contextlib.asynccontextmanager
    async def own_connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection as rowgate's login, for rowgate's own work (reading the catalog,
        putting up the second wall), never in the second wall's role a read left it in."""
        async with self.pool.connection() as conn:
            await self._take_role(conn, None)
            yield conn

    async def _take_role(self, conn: asyncpg.Connection, role: str | None) -> None:
        """Make ``role`` (``None``: the login's) the connection's session role, unless it is."""
        key = _connection_object(conn)
        wanted = role or ""
        if self._roles.get(key, "") == wanted:
            return
        self._roles[key] = _UNKNOWN  # cut short (cancelled, failed): set again next time
        await conn.execute(f"SET role = {pg_literal(role)}" if role else "RESET role")
        self._roles[key] = wanted

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection for one request; errors from the database become problem
        responses."""
        async with self.pool.connection() as conn:
            with translated_errors():
                try:
                    yield conn
                except asyncpg.InterfaceError as error:
                    if isinstance(error, ValueError):  # asyncpg's client-side DataError
                        raise ValidationFailed(
                            f"A value does not fit its parameter: {error}", code="invalid_parameter"
                        ) from None
                    if conn.is_closed():
                        raise  # the database went away: a 503 (translated_errors)
                    # The connection is fine, so the statement is the cause (a result of a
                    # type asyncpg cannot read, say): the caller's problem, not an outage.
                    raise _unreadable(error) from None
                except UnicodeDecodeError as error:
                    # a record holding a uuid: asyncpg hands its binary value to the text codec
                    raise _unreadable(error) from None
                except asyncpg.PostgresError as error:
                    if isinstance(error, _CONNECTION_STATES):
                        raise
                    if ROLE_MARKER in str(error):
                        # Never expected: the connection was not the role the runner remembered.
                        self._roles[_connection_object(conn)] = _UNKNOWN
                        log.error("a data connection was not in the second wall's role; it is set again")
                        raise ServiceUnavailable("Try again.", code="data_role_lost") from None
                    raise problem_for(error) from error


def _unreadable(error: Exception) -> BadRequest:
    log.warning("data statement refused by the driver: %s: %s", type(error).__name__, error)
    return BadRequest("The data API cannot run this statement or return its result.", code="unsupported")


async def _rollback(conn: asyncpg.Connection) -> None:
    # The pool rolls back whatever is still open when the connection comes back (a cancelled
    # request may leave a statement running), so a failure here changes nothing.
    with contextlib.suppress(Exception):
        if conn.is_in_transaction():
            await conn.execute("ROLLBACK")


async def _no_session_state(conn: asyncpg.Connection) -> None:
    """The pool's reset: nothing to undo.  Every setting of a caller's is transaction-local (the
    session role is the second wall's, the same for every caller, and the runner keeps track of
    it), and statements that could leave session state (SET, LISTEN, advisory locks, cursors WITH
    HOLD, temporary tables) are refused by the rewriter; the pool itself rolls back an open
    transaction."""


def _connection_object(conn: asyncpg.Connection) -> object:
    """asyncpg's connection behind a pool's proxy for it (a proxy is made anew per acquire)."""
    return getattr(conn, "_con", None) or conn


#: A session role the runner does not know (no role name holds NUL).
_UNKNOWN = "\x00"


#: Errors that ``translated_errors`` turns into 503/504 (a lost or restarting server, a timeout).
_CONNECTION_STATES = (asyncpg.exceptions.QueryCanceledError, *SERVER_AWAY)
