"""Instant revocation of sessions (and so of every access token carrying their ``sid``).

A revoked session id is written to the ephemeral store with a lifetime of the longest access
token, and announced on a channel.  Every rowgate instance keeps a local copy, filled from the
store at start-up and after every reconnection and kept current by the announcements, so checking
a token costs one set lookup and no network round trip.

A revocation takes effect on the revoking instance before anything is written, so it holds there
even when the store is down.  What could not be written stays pending: the call fails (503, the
caller learns the revocation is not yet everywhere), and the pending ids are written and
announced as soon as the store is back (the subscription's reconnection re-reads the list, and
flushes them first).  If the instance itself dies before that, its pending revocations are lost
from the store, but the sessions are revoked in the database (refresh fails at once) and their
access tokens expire within ``tokens.access_ttl``.
"""

from __future__ import annotations

import json
import logging
import time

from auth.store import EphemeralStore
from config.errors import ServiceUnavailable

log = logging.getLogger("rowgate.revocation")

CHANNEL = "revocations"
_KEY = "revoked:"


class RevocationList:
    """Revoked ids with their expiry; local lookups, shared writes."""

    def __init__(self, store: EphemeralStore, lifetime: float) -> None:
        self._store = store
        self._lifetime = lifetime
        self._local: dict[str, float] = {}
        self._pending: dict[str, float] = {}

    async def start(self) -> None:
        """Fill the local copy and follow announcements from other instances."""
        await self._store.subscribe(CHANNEL, self._on_message)

    async def revoke(self, *ids: str) -> None:
        """Revoke ``ids`` everywhere, at once: here before anything else, on the other instances
        through the store (``ServiceUnavailable`` when it cannot be reached: then as soon as it
        is back)."""
        until = time.time() + self._lifetime
        for revoked in ids:
            self._local[revoked] = until
            self._pending[revoked] = until
        await self._flush()

    @property
    def pending(self) -> int:
        """How many revocations wait for the store to come back."""
        return len(self._pending)

    async def _flush(self) -> None:
        """Write and announce the pending revocations; those written leave the pending list."""
        if not self._pending:
            return
        batch = dict(self._pending)
        try:
            for revoked, until in batch.items():
                ttl = until - time.time()
                if ttl > 0:
                    await self._store.set(_KEY + revoked, str(until), ttl=ttl)
            await self._store.publish(CHANNEL, json.dumps({"ids": list(batch), "until": max(batch.values())}))
        except ServiceUnavailable:
            log.warning(
                "%d revocation(s) not yet shared with other instances (store unreachable); "
                "they are enforced here and will be shared when the store is back",
                len(self._pending),
            )
            raise
        for revoked in batch:
            if self._pending.get(revoked) == batch[revoked]:
                del self._pending[revoked]

    def is_revoked(self, revoked_id: str) -> bool:
        """True while ``revoked_id`` is revoked (a local lookup)."""
        until = self._local.get(revoked_id)
        if until is None:
            return False
        if until < time.time():
            del self._local[revoked_id]
            return False
        return True

    async def _on_message(self, message: str | None) -> None:
        if message is None:
            await self._resync()
            return
        try:
            payload = json.loads(message)
            until = float(payload["until"])
            self._local.update(dict.fromkeys(map(str, payload["ids"]), until))
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed revocation announcement")

    async def _resync(self) -> None:
        await self._flush()  # a failure here makes the subscription retry, flush included
        entries = await self._store.scan(_KEY)
        for revoked, until in entries.items():
            try:
                self._local[revoked] = float(until)
            except ValueError:
                continue
