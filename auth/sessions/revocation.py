"""Instant revocation of sessions (and so of every access token carrying their ``sid``).

PostgreSQL holds the truth: a session is revoked by its row (``sessions.revoked_at`` set, or the
row deleted with its account), and a trigger records each in ``rowgate.revoked_sessions`` in the
same transaction, before anything else hears of it.  Every instance keeps in memory the
revocations whose access tokens could still be valid (revoked within ``tokens.access_ttl`` +
``tokens.leeway``), so checking a token costs one dictionary lookup and no round trip:

* at start-up, and whenever the store says it may have lost messages or state (a reconnection, or
  its generation marker changed: subscribers get ``None``), the list is rebuilt from PostgreSQL;
* a revocation is announced on the store channel ``revocations``; every instance adds it at once;
* every ``catch_up`` seconds the last few minutes of revocations are read again, so that an
  announcement lost without a reconnection to tell (the revoking instance cut off from the store
  and dying before it could announce) still holds everywhere within that interval.

Whatever outlives a request (the WebSockets ``proxy.sockets`` watches) asks to be called back
(``listen``) whenever revocations may have been added, here or heard of.

A revocation takes effect on the revoking instance before it is announced, so it holds there even
when the store is down.  An announcement that could not be made stays pending: the call fails
(503: not yet on every instance) and the announcement is made when the store is back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable

from rowgate.auth.db import Database
from rowgate.auth.sessions import repo as sessions
from rowgate.auth.store import EphemeralStore
from rowgate.auth.tasks import cancel_and_wait
from rowgate.config.schema import TokenSettings
from rowgate.errors import ServiceUnavailable

log = logging.getLogger("rowgate.revocation")

CHANNEL = "revocations"

#: Reads the durable revocations of the last given seconds: session id → revoked at (epoch seconds).
Source = Callable[[float], Awaitable[dict[str, float]]]

#: Revocations a catch-up reads beyond two intervals (transactions that committed late).
_CATCH_UP_MARGIN = 60.0


def database_source(db: Database) -> Source:
    """The revocations recorded in ``rowgate.revoked_sessions``."""

    async def read(seconds: float) -> dict[str, float]:
        async with db.connection() as conn:
            return await sessions.revoked_since(conn, seconds)

    return read


def horizon(settings: TokenSettings) -> float:
    """How long a revocation matters: the longest an access token issued before it stays valid."""
    return (settings.access_ttl + settings.leeway).total_seconds()


class RevocationList:
    """Revoked session ids with the time until which their tokens could live; local lookups."""

    def __init__(
        self,
        store: EphemeralStore,
        source: Source,
        horizon: float,
        *,
        catch_up: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store, self._source, self._horizon = store, source, horizon
        self._catch_up, self._clock = catch_up, clock
        self._local: dict[str, float] = {}
        self._pending: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._listeners: list[Callable[[], None]] = []

    def listen(self, revoked: Callable[[], None]) -> None:
        """Call ``revoked`` whenever sessions may have been revoked (here, or heard of)."""
        self._listeners.append(revoked)

    async def start(self) -> None:
        """Read the recent revocations, follow announcements, and catch up periodically."""
        await self.rebuild()
        await self._store.subscribe(CHANNEL, self._on_message)
        self._task = asyncio.create_task(self._catch_up_forever(), name="rowgate-revocations")

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def revoke(self, *ids: str) -> None:
        """Revoke ``ids`` (already revoked in the database) everywhere, at once: here before
        anything else, on the other instances through the store (``ServiceUnavailable`` when it
        cannot be reached: then as soon as it is back)."""
        until = self._clock() + self._horizon
        for revoked in ids:
            self._local[revoked] = until
            self._pending[revoked] = until
        self._notify()
        await self._flush()

    def is_revoked(self, revoked_id: str) -> bool:
        """True while ``revoked_id`` is revoked (a local lookup)."""
        until = self._local.get(revoked_id)
        if until is None:
            return False
        if until < self._clock():
            del self._local[revoked_id]
            return False
        return True

    @property
    def pending(self) -> int:
        """How many revocations wait for the store to come back to be announced."""
        return len(self._pending)

    async def rebuild(self, window: float | None = None) -> int:
        """Add the revocations of the last ``window`` seconds (default: all whose tokens may
        still live) from the database; how many were read."""
        found = await self._source(self._horizon if window is None else window)
        for revoked, at in found.items():
            until = at + self._horizon
            if until > self._local.get(revoked, 0.0):
                self._local[revoked] = until
        now = self._clock()
        for revoked in [r for r, until in self._local.items() if until < now]:
            del self._local[revoked]
        self._notify()
        return len(found)

    def _notify(self) -> None:
        for revoked in self._listeners:
            revoked()

    async def _flush(self) -> None:
        """Announce the pending revocations; those announced leave the pending list."""
        if not self._pending:
            return
        batch = dict(self._pending)
        try:
            await self._store.publish(CHANNEL, json.dumps({"ids": list(batch), "until": max(batch.values())}))
        except ServiceUnavailable:
            log.warning(
                "%d revocation(s) not yet announced to other instances (store unreachable); "
                "they hold here and will be announced when the store is back",
                len(self._pending),
            )
            raise
        for revoked in batch:
            if self._pending.get(revoked) == batch[revoked]:
                del self._pending[revoked]

    async def _on_message(self, message: str | None) -> None:
        if message is None:  # (re)connected, or the store lost its state: the database decides
            await self.rebuild()
            await self._flush()  # a failure here makes the store call again, flush included
            return
        try:
            payload = json.loads(message)
            until = float(payload["until"])
            self._local.update(dict.fromkeys(map(str, payload["ids"]), until))
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed revocation announcement")
            return
        self._notify()

    async def _catch_up_forever(self) -> None:
        while True:
            await asyncio.sleep(self._catch_up)
            try:
                await self.rebuild(2 * self._catch_up + _CATCH_UP_MARGIN)
                await self._flush()
            except ServiceUnavailable:
                pass  # logged where it happened; the next round tries again
