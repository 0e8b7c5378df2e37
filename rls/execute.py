"""Running a rewritten statement on PostgreSQL (asyncpg): the one I/O edge of the engine.

``run`` opens a transaction on the given connection (a savepoint when one is already open),
tells the database who the caller is with ``set_config(..., true)`` (``SET LOCAL``: gone at
the end of the transaction), executes the statement with the caller's parameters followed by
rowgate's, and returns the rows and the command status.  The settings are the ones the native
policies of ``rls.export`` read:

    rowgate.user_id   the subject's user id ('' when none)
    rowgate.org_id    the subject's tenant id ('' when none)
    rowgate.role      the subject's role name ('' when none)
    rowgate.groups    the subject's groups, comma-separated and sorted ('admin,user')

A write refused by the database itself (the upsert guard of ``rls.rules.guard_upsert``, or the
native policies as a second layer) becomes ``WriteRefused``; other database errors are left to
the caller, which knows how to present them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from config.errors import WriteRefused
from rls.raising import MARKER as RAISE_MARKER
from rls.subject import Subject
from rls.template import Rewritten

SET_SUBJECT = (
    "SELECT set_config('rowgate.user_id', $1, true), set_config('rowgate.org_id', $2, true), "
    "set_config('rowgate.role', $3, true), set_config('rowgate.groups', $4, true)"
)


@dataclass(frozen=True, slots=True)
class Result:
    """What a statement returned: its rows (RETURNING rows for writes), status and row count."""

    rows: list[asyncpg.Record]
    status: str
    rowcount: int


async def set_subject(conn: asyncpg.Connection, subject: Subject) -> None:
    """Set the ``rowgate.*`` settings for the current transaction."""
    await conn.execute(
        SET_SUBJECT,
        subject.user_id or "",
        subject.tenant_id or "",
        subject.role or "",
        ",".join(sorted(subject.groups)),
    )


async def run(
    conn: asyncpg.Connection, rewritten: Rewritten, subject: Subject, params: Sequence[Any] = ()
) -> Result:
    """Execute ``rewritten`` for ``subject`` in a transaction; its rows, status and row count."""
    async with conn.transaction():
        await set_subject(conn, subject)
        try:
            statement = await conn.prepare(rewritten.sql)
            rows = await statement.fetch(*params, *rewritten.params)
        except asyncpg.PostgresError as error:
            raise translated(error) from error
        status = statement.get_statusmsg() or ""
    if rewritten.discard_rows:
        rows = []
    return Result(rows, status, _rowcount(status, rows))


def translated(error: asyncpg.PostgresError) -> Exception:
    """``WriteRefused`` for a row-security refusal by the database, else ``error`` itself."""
    message = str(getattr(error, "message", "") or error)
    if RAISE_MARKER in message:
        detail = message.split(RAISE_MARKER, 1)[1].split('"', 1)[0]
        return WriteRefused(detail, code="write_refused")
    if getattr(error, "sqlstate", "") == "42501" and "row-level security" in message:
        return WriteRefused(
            "the database's row-level security policy refused this write", code="write_refused"
        )
    result: Exception = error
    return result


def _rowcount(status: str, rows: list[asyncpg.Record]) -> int:
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else len(rows)
