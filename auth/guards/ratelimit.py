"""Fixed-window rate limits on the ephemeral store (shared by every instance when it is Redis).

A window is one counter key that expires ``window`` after its first hit; counting is one atomic
``INCR`` so that concurrent requests on several instances are all counted.  ``hit`` raises 429
with ``Retry-After`` (the time until the window ends); ``allow`` answers quietly, for limits that
must not be visible to the caller (mails per address: answering 429 there would reveal that the
address has an account).
"""

from __future__ import annotations

import math

from rowgate.auth.store import EphemeralStore
from rowgate.config.identity import RateLimit
from rowgate.errors import TooManyRequests


class RateLimiter:
    """``limit`` hits per ``window`` for each key of one kind (``name``)."""

    def __init__(self, store: EphemeralStore, name: str, rule: RateLimit) -> None:
        self._store = store
        self._prefix = f"rl:{name}:"
        self._limit = rule.limit
        self._window = rule.window.total_seconds()

    async def hit(self, key: str, *, message: str = "Too many requests; try again later.") -> None:
        """Count one hit; 429 when the key is over its limit in the current window."""
        if not await self.allow(key):
            remaining = await self._store.ttl(self._prefix + key)
            raise TooManyRequests(message, retry_after=math.ceil(remaining or self._window))

    async def allow(self, key: str) -> bool:
        """Count one hit; False when the key is over its limit in the current window."""
        count = await self._store.incr(self._prefix + key, self._window)
        return count <= self._limit

    async def reset(self, key: str) -> None:
        await self._store.delete(self._prefix + key)
