"""The background sender: claims due messages from the outbox, delivers them, retries failures.

It wakes when a flow queued mail on this instance (``Mailer.wake``) and otherwise every
``mail.poll_interval``, so messages queued by other instances or left over by a crash are sent
too.  A failed attempt is retried after the next wait of ``mail.retry_schedule``; when the
schedule is used up, or the server refused for good (a 5xx reply), the message is given up and
logged.  Claims expire, so a message claimed by an instance that died is picked up again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from rowgate.auth.db import Database
from rowgate.auth.mail import outbox
from rowgate.auth.mail.backends import MailBackend, is_permanent
from rowgate.auth.mail.compose import envelope_sender
from rowgate.auth.mail.outbox import Claimed, Mailer
from rowgate.auth.tasks import cancel_and_wait
from rowgate.config.identity import MailSettings
from rowgate.errors import ServiceUnavailable

log = logging.getLogger("rowgate.mail")


class MailSender:
    def __init__(self, db: Database, mailer: Mailer, backend: MailBackend, settings: MailSettings) -> None:
        self._db = db
        self._mailer = mailer
        self._backend = backend
        self._settings = settings
        self._sender = envelope_sender(settings.from_address)
        self._hold = settings.smtp.timeout * 3 + timedelta(seconds=30)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run the delivery loop in the background until ``stop``."""
        self._task = asyncio.create_task(self._loop(), name="rowgate-mail-sender")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def run_once(self) -> int:
        """Deliver every message due now; how many attempts were made."""
        attempted = 0
        while True:
            async with self._db.transaction() as conn:
                batch = await outbox.claim(conn, self._settings.batch_size, self._hold)
            if not batch:
                return attempted
            await asyncio.gather(*(self._deliver(message) for message in batch))
            attempted += len(batch)

    async def _loop(self) -> None:
        wakeup = self._mailer.wakeup
        while True:
            wakeup.clear()
            try:
                await self.run_once()
            except ServiceUnavailable:
                log.warning("mail outbox unreachable (database down?); retrying later")
            except Exception:
                log.exception("mail sender round failed; retrying later")
            # asyncio.timeout, not wait_for: on Python 3.11, wait_for can swallow a cancellation
            # that lands as its timeout fires, and the sender then never stops (shutdown hangs).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._settings.poll_interval.total_seconds()):
                    await wakeup.wait()

    async def _deliver(self, message: Claimed) -> None:
        try:
            await self._backend.send(self._sender, message.recipient, self._mailer.open(message))
        except Exception as error:
            await self._failed(message, error)
            return
        async with self._db.connection() as conn:
            await outbox.mark_sent(conn, message.id)
        log.info("mail %s (%s) delivered", message.id, message.template)

    async def _failed(self, message: Claimed, error: BaseException) -> None:
        schedule = self._settings.retry_schedule
        permanent = is_permanent(error)
        retry_in = None if permanent or message.attempts > len(schedule) else schedule[message.attempts - 1]
        reason = f"{type(error).__name__}: {str(error)[:300]}"
        async with self._db.connection() as conn:
            await outbox.mark_failed(conn, message.id, reason, retry_in)
        if retry_in is None:
            log.error(
                "mail %s (%s) given up after %d attempts: %s",
                message.id,
                message.template,
                message.attempts,
                reason,
            )
        else:
            log.warning(
                "mail %s (%s) attempt %d failed (%s); retrying in %s",
                message.id,
                message.template,
                message.attempts,
                reason,
                retry_in,
            )
