"""Signed webhooks from an outbox: queued with the alert, delivered after commit, retried with back-off.

Like mail: ``queue`` inserts on the caller's connection; the ``WebhookSender`` claims due rows
(``FOR UPDATE SKIP LOCKED``, with claims that expire, so several instances share the work and a
crashed one's rows come back), posts each body with a fresh signature, and retries a failure
after the next wait of ``alerts.retry_schedule`` until it is used up.  Any 2xx answer is
success; redirects are not followed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
import asyncpg

from rowgate.auth.alerts.signing import HEADER, signature
from rowgate.auth.db import Database
from rowgate.auth.tasks import cancel_and_wait
from rowgate.config.alerts import AlertSettings
from rowgate.errors import ServiceUnavailable

log = logging.getLogger("rowgate.alerts")


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    url: str
    body: str
    attempts: int


async def queue(conn: asyncpg.Connection, urls: tuple[str, ...], body: str) -> None:
    """One outbox row per URL (caller's transaction)."""
    await conn.executemany(
        "INSERT INTO rowgate.webhook_outbox (url, body) VALUES ($1, $2)", [(url, body) for url in urls]
    )


CLAIM = """
UPDATE rowgate.webhook_outbox SET claimed_until = now() + $2::interval, attempts = attempts + 1
WHERE id IN (
    SELECT id FROM rowgate.webhook_outbox
    WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now()
      AND (claimed_until IS NULL OR claimed_until < now())
    ORDER BY next_attempt_at, id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
RETURNING id, url, body, attempts
"""
SENT = (
    "UPDATE rowgate.webhook_outbox SET sent_at = now(), claimed_until = NULL, last_error = NULL WHERE id = $1"
)
RETRY = """
UPDATE rowgate.webhook_outbox
SET next_attempt_at = now() + $3::interval, claimed_until = NULL, last_error = $2 WHERE id = $1
"""
GIVE_UP = (
    "UPDATE rowgate.webhook_outbox SET failed_at = now(), claimed_until = NULL, last_error = $2 WHERE id = $1"
)


class WebhookSender:
    def __init__(self, db: Database, settings: AlertSettings, secret: bytes | None) -> None:
        self._db = db
        self._settings = settings
        self._secret = secret or b""
        self._hold = settings.webhook_timeout * 2 + timedelta(seconds=30)
        self._http: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self.wakeup = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="rowgate-webhook-sender")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def run_once(self) -> int:
        """Deliver every webhook due now; how many attempts were made."""
        attempted = 0
        while True:
            async with self._db.transaction() as conn:
                rows = await conn.fetch(CLAIM, 20, self._hold)
            if not rows:
                return attempted
            await asyncio.gather(*(self._deliver(Claimed(*row.values())) for row in rows))
            attempted += len(rows)

    async def _loop(self) -> None:
        while True:
            self.wakeup.clear()
            try:
                await self.run_once()
            except ServiceUnavailable:
                log.warning("webhook outbox unreachable (database down?); retrying later")
            except Exception:
                log.exception("webhook sender round failed; retrying later")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._settings.poll_interval.total_seconds()):
                    await self.wakeup.wait()

    async def _deliver(self, hook: Claimed) -> None:
        body = hook.body.encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            HEADER: signature(self._secret, int(time.time()), body),
        }
        try:
            async with self._client().post(
                hook.url, data=body, headers=headers, allow_redirects=False
            ) as resp:
                error = None if 200 <= resp.status < 300 else f"HTTP {resp.status}"
        except Exception as exc:  # any failure is a failed attempt (else the row stays claimed)
            error = f"{type(exc).__name__}: {str(exc)[:200]}"
        async with self._db.connection() as conn:
            await self._record(conn, hook, error)

    async def _record(self, conn: asyncpg.Connection, hook: Claimed, error: str | None) -> None:
        schedule = self._settings.retry_schedule
        if error is None:
            await conn.execute(SENT, hook.id)
        elif hook.attempts <= len(schedule):
            await conn.execute(RETRY, hook.id, error, schedule[hook.attempts - 1])
            log.warning("webhook %s attempt %d failed (%s); retrying", hook.id, hook.attempts, error)
        else:
            await conn.execute(GIVE_UP, hook.id, error)
            log.error("webhook %s given up after %d attempts: %s", hook.id, hook.attempts, error)

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None:
            timeout = aiohttp.ClientTimeout(total=self._settings.webhook_timeout.total_seconds())
            self._http = aiohttp.ClientSession(timeout=timeout)
        return self._http
