"""Instant revocation of sessions (and so of every access token carrying their ``sid``).

A revoked session id is written to the ephemeral store with a lifetime of the longest access
token, and announced on a channel.  Every rowgate instance keeps a local copy, filled from the
store at start-up and after every reconnection and kept current by the announcements, so checking
a token costs one set lookup and no network round trip.
"""

from __future__ import annotations

import json
import logging
import time

from auth.store import EphemeralStore

log = logging.getLogger("rowgate.revocation")

CHANNEL = "revocations"
_KEY = "revoked:"


class RevocationList:
    """Revoked ids with their expiry; local lookups, shared writes."""

    def __init__(self, store: EphemeralStore, lifetime: float) -> None:
        self._store = store
        self._lifetime = lifetime
        self._local: dict[str, float] = {}

    async def start(self) -> None:
        """Fill the local copy and follow announcements from other instances."""
        await self._store.subscribe(CHANNEL, self._on_message)

    async def revoke(self, *ids: str) -> None:
        """Revoke ``ids`` everywhere, at once."""
        until = time.time() + self._lifetime
        for revoked in ids:
            await self._store.set(_KEY + revoked, str(until), ttl=self._lifetime)
            self._local[revoked] = until
        if ids:
            await self._store.publish(CHANNEL, json.dumps({"ids": list(ids), "until": until}))

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
        entries = await self._store.scan(_KEY)
        for revoked, until in entries.items():
            try:
                self._local[revoked] = float(until)
            except ValueError:
                continue
