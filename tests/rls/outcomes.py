"""Running a statement in a rolled-back transaction and describing what it did, so that two runs
can be compared: the rows, the status, the state of every table afterwards, or the failure.

Shared by the differential test (rowgate's rewrite against native row security) and the token
kinds test (the rewritten text run as the tables' owner against the same text under native
row security).
"""

from __future__ import annotations

from typing import Any

import asyncpg

from rowgate.proxy.data.execute import set_subject
from rowgate.rls.raising import MARKER
from rowgate.rls.subject import Subject
from tests.rls import world

Outcome = tuple[Any, ...]
#: The version of the test policies: native policies hold only in a transaction that names it.
VERSION = world.world_policies().version

#: How ``failure`` describes the database refusing a row that names another owner (the owner
#: rule checked as the statement ran, or the native trigger).
OWNER_FORGED_AS_IT_RUNS = "owner forged: refused as it ran"


async def execute(
    conn: asyncpg.Connection,
    sql: str,
    params: tuple[str, ...],
    subject: Subject,
    role: str | None,
    discard_rows: bool = False,
) -> Outcome:
    """Run ``sql`` for ``subject`` (as ``role`` when given, else as the connected owner) and roll
    back: ``("ok", rows, rowcount, state)`` or a failure (``failure``)."""
    transaction = conn.transaction()
    await transaction.start()
    try:
        await set_subject(conn, subject)
        if role is not None:
            await conn.execute(f"SET LOCAL rowgate.policy = '{VERSION}'")
            await conn.execute(f'SET LOCAL ROLE "{role}"')
        try:
            statement = await conn.prepare(sql)
            rows = await statement.fetch(*params)
        except asyncpg.PostgresError as error:
            return failure(error)
        status = statement.get_statusmsg() or ""
        if discard_rows:
            rows = []
        if role is not None:
            await conn.execute("RESET ROLE")
        state = (
            await table_state(conn)
            if not sql.lstrip().upper().startswith(("SELECT", "WITH", "TABLE"))
            else ()
        )
        return ("ok", sorted(tuple(str(v) for v in r.values()) for r in rows), status.split()[-1], state)
    finally:
        await transaction.rollback()


def failure(error: asyncpg.PostgresError) -> Outcome:
    """A failure as an outcome: ``("refused",)`` for a row-security refusal (rowgate's or the
    database's), else ``("error", sqlstate)``."""
    message = str(error)
    if MARKER in message and "another owner" in message:
        return ("refused", OWNER_FORGED_AS_IT_RUNS)
    if MARKER in message or (error.sqlstate == "42501" and "row-level security" in message):
        return ("refused",)
    # Data exceptions (class 22: a failed cast, a division by zero) on rows the caller can see
    # depend on which row the database happens to reach first; compare their class only.
    sqlstate = str(error.sqlstate)
    return ("error", sqlstate[:2] if sqlstate.startswith("22") else sqlstate)


async def table_state(conn: asyncpg.Connection) -> tuple[Any, ...]:
    """Every row of every table of the test world, in order."""
    tables = []
    for table in world.TABLES:
        rows = await conn.fetch(f"SELECT * FROM {table} ORDER BY id")
        tables.append(tuple(tuple(str(v) for v in r.values()) for r in rows))
    return tuple(tables)
