"""Running data API statements: one pooled connection, one transaction per request.

Every connection of the data pool runs with ``statement_timeout`` from ``data.statement_timeout``
(a session setting given when it connects).  Every transaction starts with one round trip,
``BEGIN`` and the ``SET LOCAL`` settings for that transaction only (``proxy.data.execute.begin_sql``): the
caller's identity as ``rowgate.user_id``, ``rowgate.org_id``, ``rowgate.role`` and
``rowgate.groups``, the policy version as ``rowgate.policy`` (what the native policies of the
second wall read), and ``role``: the least-privileged role of the second wall (``data.role``) that
the statement runs as.  Reads run in ``READ ONLY`` transactions.

A read that is one statement rowgate built itself (a REST ``GET``, an existence check) needs none
of that when there is no role to switch to (``data.role: null``, or the second wall is down in
``mode: dev``): it runs alone, in its own implicit transaction, one round trip instead of three.
Statements run through ``proxy.data.execute.execute``, the engine's one runner: from the connection's
statement cache (parsed and planned once per connection, then one round trip), with ``/v1/sql``
reading through a portal that stops after ``data.max_rows`` rows.

Database errors become problem responses (``proxy.data.pgerrors``); a lost database is a 503 and the
pool reconnects by itself.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
import orjson

from rowgate.auth.db import SERVER_AWAY, FairPool, translated_errors
from rowgate.config.data import DataSettings
from rowgate.errors import BadRequest, ValidationFailed
from rowgate.proxy.data.execute import Result, RunAs, begin_sql, execute, milliseconds
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
    """The connection of one request's transaction, and the most bytes one answer may hold."""

    def __init__(self, conn: asyncpg.Connection, max_bytes: int) -> None:
        self.conn = conn
        self.max_bytes = max_bytes

    async def fetch(self, rewritten: Rewritten, params: Sequence[Any]) -> list[asyncpg.Record]:
        """The rows of a statement whose own ``LIMIT`` bounds them (the REST shapes), with values
        already of the right Python types."""
        return (await execute(self.conn, rewritten, params, max_bytes=self.max_bytes)).rows

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
            rewritten,
            params,
            json_params=json_params,
            max_rows=max_rows,
            max_bytes=self.max_bytes,
            describe=True,
        )


class DataRunner:
    """The data API's pool and its transactions."""

    def __init__(self, pool: asyncpg.Pool, settings: DataSettings) -> None:
        self.pool = FairPool(pool)
        self.settings = settings

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
            await conn.execute(begin)
            try:
                yield Session(conn, self.settings.max_response_bytes)
            except BaseException:
                await _rollback(conn)
                raise
            await conn.execute("COMMIT")

    @contextlib.asynccontextmanager
    async def single_read(self, subject: Subject, *, run_as: RunAs | None) -> AsyncIterator[Session]:
        """Where to run one read statement rowgate built itself: alone on a pooled connection,
        or in a read-only transaction behind the second wall (``run_as``: its role, and the
        caller's settings for the native policies).  Never for the caller's own SQL, which
        always runs in a transaction."""
        if run_as is not None:
            async with self.transaction(subject, run_as=run_as, readonly=True) as session:
                yield session
            return
        async with self._connection() as conn:
            yield Session(conn, self.settings.max_response_bytes)

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
    """The pool's reset: nothing to undo.  Every setting is transaction-local, and statements
    that could leave session state (SET, LISTEN, advisory locks, cursors WITH HOLD, temporary
    tables) are refused by the rewriter; the pool itself rolls back an open transaction."""


#: Errors that ``translated_errors`` turns into 503/504 (a lost or restarting server, a timeout).
_CONNECTION_STATES = (asyncpg.exceptions.QueryCanceledError, *SERVER_AWAY)
