"""The watcher: reads the audit trail after its cursor and raises the alerts its rules find.

Rules run here, after the events commit, never in the request that records them: a sign-in pays
nothing for alerts.  One instance at a time holds the cursor row (``FOR UPDATE SKIP LOCKED``);
the events, the alerts they raise and the new cursor commit together, so each event is judged
once.  The watcher wakes every ``alerts.poll_interval`` and reads, in id order, the events up to
the first one younger than ``alerts.settle``: an event whose transaction stays open longer than
that, and commits after a later one was read, is not judged (auth transactions last milliseconds).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Callable
from datetime import timedelta

import asyncpg

from rowgate.auth import telemetry
from rowgate.auth.alerts.dispatch import dispatch
from rowgate.auth.alerts.geo import GeoLocator
from rowgate.auth.alerts.rules import Context, Event, evaluate
from rowgate.auth.db import Database
from rowgate.auth.mail.outbox import Mailer
from rowgate.auth.tasks import cancel_and_wait
from rowgate.config.alerts import AlertSettings
from rowgate.errors import ServiceUnavailable

log = logging.getLogger("rowgate.alerts")

READ = """
SELECT id, at, event, user_id::text, org_id::text, session_id::text, ip, user_agent, details,
       at > now() - $2::interval AS young
FROM rowgate.audit_events
WHERE id > $1
ORDER BY id LIMIT $3
"""


class AlertWatcher:
    def __init__(
        self,
        db: Database,
        settings: AlertSettings,
        mailer: Mailer,
        geo: GeoLocator | None,
        on_alert: Callable[[], None] = lambda: None,
    ) -> None:
        self._db = db
        self._settings = settings
        self._mailer = mailer
        self._context = Context(settings, geo)
        self._on_alert = on_alert
        self._task: asyncio.Task[None] | None = None
        #: Alerts this instance raised (also counted in ``rowgate_alerts_total{rule}``).
        self.raised = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="rowgate-alert-watcher")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def run_once(self, settle: timedelta | None = None) -> int:
        """Judge one batch of the events due now; how many events were read."""
        async with self._db.transaction() as conn:
            cursor = await conn.fetchval(
                "SELECT last_event_id FROM rowgate.alert_cursor FOR UPDATE SKIP LOCKED"
            )
            if cursor is None:
                return 0  # another instance holds it
            wait = self._settings.settle if settle is None else settle
            read = await conn.fetch(READ, cursor, wait, self._settings.batch_size)
            rows = list(itertools.takewhile(lambda row: not row["young"], read))  # in id order
            rules = [rule for row in rows for rule in await self._judge(conn, _event(row))]
            if rows:
                await conn.execute("UPDATE rowgate.alert_cursor SET last_event_id = $1", rows[-1]["id"])
        for rule in rules:  # counted once committed: a rolled-back round raised nothing
            telemetry.count_alert(rule)
        self.raised += len(rules)
        if rules:
            self._mailer.wake()
            self._on_alert()
        return len(rows)

    async def _judge(self, conn: asyncpg.Connection, event: Event) -> list[str]:
        """The rules that raised an alert for ``event`` (each dispatched in ``conn``'s transaction)."""
        alerts = await evaluate(conn, event, self._context)
        for alert in alerts:
            await dispatch(conn, alert, self._settings, self._mailer)
            log.warning("alert %s for user %s (event %d)", alert.rule, event.user_id, event.id)
        return [alert.rule for alert in alerts]

    async def _loop(self) -> None:
        while True:
            try:
                while await self.run_once() >= self._settings.batch_size:
                    pass
            except ServiceUnavailable:
                log.warning("audit trail unreachable (database down?); alerts retry later")
            except Exception:
                log.exception("alert round failed; retrying later")
            await asyncio.sleep(self._settings.poll_interval.total_seconds())


def _event(row: asyncpg.Record) -> Event:
    details = row["details"]
    return Event(
        id=row["id"],
        at=row["at"],
        event=row["event"],
        user_id=row["user_id"],
        org_id=row["org_id"],
        session_id=row["session_id"],
        ip=row["ip"],
        user_agent=row["user_agent"],
        details=json.loads(details) if isinstance(details, str) else dict(details or {}),
    )
