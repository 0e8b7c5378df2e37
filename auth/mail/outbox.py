"""The transactional outbox: messages written with the change they report, sent after commit.

``Mailer.queue`` renders a template and inserts the message on the caller's connection, inside
its transaction; ``Mailer.wake`` (called after commit) tells the sender to look at once.  The
stored message carries a link with a token, so it is sealed with the master key when a ``Sealer``
is given (the way other secrets are kept at rest) and emptied once sent or given up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

import asyncpg

from rowgate.auth.mail.compose import build_message, render
from rowgate.config.identity import MailSettings


class Sealer(Protocol):
    """Authenticated encryption for data at rest (the master key's box)."""

    def seal(self, plaintext: bytes, purpose: bytes) -> bytes: ...

    def open(self, sealed: bytes, purpose: bytes) -> bytes: ...


class Unsealed:
    """A Sealer that stores messages as they are (when no master key box is configured)."""

    def seal(self, plaintext: bytes, purpose: bytes) -> bytes:
        return plaintext

    def open(self, sealed: bytes, purpose: bytes) -> bytes:
        return sealed


def seal_purpose(recipient: str) -> bytes:
    return b"mail-outbox:" + recipient.encode("utf-8")


@dataclass(frozen=True, slots=True)
class Claimed:
    """A message claimed for one delivery attempt."""

    id: int
    template: str
    recipient: str
    message: bytes
    attempts: int


class Mailer:
    """Queues messages in the outbox; the ``MailSender`` delivers them."""

    def __init__(self, settings: MailSettings, sealer: Sealer | None = None) -> None:
        self._settings = settings
        self._sealer = sealer or Unsealed()
        self.wakeup = asyncio.Event()

    async def queue(
        self, conn: asyncpg.Connection, template: str, recipient: str, values: Mapping[str, str]
    ) -> int:
        """Render ``template`` for ``recipient`` and store it in the outbox (caller's transaction)."""
        rendered = render(template, {"product": self._settings.product_name, "email": recipient, **values})
        message = build_message(rendered, sender=self._settings.from_address, recipient=recipient)
        sealed = self._sealer.seal(message, seal_purpose(recipient))
        return int(
            await conn.fetchval(
                """
                INSERT INTO rowgate.mail_outbox (template, recipient, message)
                VALUES ($1, $2, $3) RETURNING id
                """,
                template,
                recipient,
                sealed,
            )
        )

    def wake(self) -> None:
        """Call after commit: the sender looks for due messages at once."""
        self.wakeup.set()

    def open(self, claimed: Claimed) -> bytes:
        return self._sealer.open(claimed.message, seal_purpose(claimed.recipient))


CLAIM = """
UPDATE rowgate.mail_outbox SET claimed_until = now() + $2::interval, attempts = attempts + 1
WHERE id IN (
    SELECT id FROM rowgate.mail_outbox
    WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now()
      AND (claimed_until IS NULL OR claimed_until < now())
    ORDER BY next_attempt_at, id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
RETURNING id, template, recipient, message, attempts
"""


async def claim(conn: asyncpg.Connection, limit: int, hold: timedelta) -> list[Claimed]:
    """Claim up to ``limit`` due messages for ``hold`` (then another sender may retry them)."""
    return [Claimed(*row.values()) for row in await conn.fetch(CLAIM, limit, hold)]


async def mark_sent(conn: asyncpg.Connection, message_id: int) -> None:
    await conn.execute(
        """
        UPDATE rowgate.mail_outbox
        SET sent_at = now(), message = NULL, claimed_until = NULL, last_error = NULL WHERE id = $1
        """,
        message_id,
    )


async def mark_failed(
    conn: asyncpg.Connection, message_id: int, error: str, retry_in: timedelta | None
) -> None:
    """Record a failed attempt: retry after ``retry_in``, or give up (None) and drop the body."""
    if retry_in is None:
        await conn.execute(
            """
            UPDATE rowgate.mail_outbox
            SET failed_at = now(), message = NULL, claimed_until = NULL, last_error = $2 WHERE id = $1
            """,
            message_id,
            error,
        )
        return
    await conn.execute(
        """
        UPDATE rowgate.mail_outbox
        SET next_attempt_at = now() + $3::interval, claimed_until = NULL, last_error = $2 WHERE id = $1
        """,
        message_id,
        error,
        retry_in,
    )


async def forget_recipient(conn: asyncpg.Connection, recipient: str) -> int:
    """Delete every outbox row for ``recipient`` (account deletion); how many."""
    status = await conn.execute("DELETE FROM rowgate.mail_outbox WHERE recipient = $1", recipient)
    return int(status.split()[-1])
