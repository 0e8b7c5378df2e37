"""Deleting what the identity flows no longer need: expired tokens, ended sessions, sent mail,
revocations whose tokens expired long ago.

Every refresh adds a row and every mail leaves a delivery record, so without this the tables grow
for ever.  Rows are kept ``auth.retention`` after they stopped mattering (for support and
forensics; the audit trail keeps the events themselves).  One instance at a time does the work
(a transaction-level advisory lock), in batches so that no delete holds locks for long.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from rowgate.auth.db import Database
from rowgate.auth.tasks import cancel_and_wait
from rowgate.errors import ServiceUnavailable

log = logging.getLogger("rowgate.janitor")

LOCK_ID = 0x726F776A616E  # "rowjan"
BATCH = 5000

#: (table, condition on rows that may go); $1 is the retention.
PURGES = (
    ("one_time_tokens", "expires_at < now() - $1::interval OR used_at < now() - $1::interval"),
    ("refresh_tokens", "expires_at < now() - $1::interval"),
    ("sessions", "revoked_at < now() - $1::interval OR expires_at < now() - $1::interval"),
    ("revoked_sessions", "revoked_at < now() - $1::interval"),
    ("mfa_used_steps", "expires_at < now() - $1::interval"),
    ("mail_outbox", "sent_at < now() - $1::interval OR failed_at < now() - $1::interval"),
)


async def purge(db: Database, retention: timedelta) -> dict[str, int]:
    """Delete every row past retention; how many per table (empty when another instance is at it)."""
    removed: dict[str, int] = {}
    for table, condition in PURGES:
        while True:
            async with db.transaction() as conn:
                if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", LOCK_ID):
                    return removed
                status = await conn.execute(
                    f"DELETE FROM rowgate.{table} WHERE ctid IN "
                    f"(SELECT ctid FROM rowgate.{table} WHERE {condition} LIMIT {BATCH})",
                    retention,
                )
            count = int(status.split()[-1])
            removed[table] = removed.get(table, 0) + count
            if count < BATCH:
                break
    return removed


class Janitor:
    """Runs ``purge`` every ``interval`` in the background."""

    def __init__(self, db: Database, retention: timedelta, interval: timedelta) -> None:
        self._db = db
        self._retention = retention
        self._interval = interval.total_seconds()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="rowgate-janitor")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                removed = await purge(self._db, self._retention)
                if any(removed.values()):
                    log.info("purged old identity rows: %s", removed)
            except ServiceUnavailable:
                log.warning("purge skipped: database unreachable")
            except Exception:
                log.exception("purge failed; trying again next round")
