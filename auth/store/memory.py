"""In-process ephemeral store: for a single rowgate instance (development, small installs)."""

from __future__ import annotations

import asyncio
import logging
import time

from rowgate.auth.store.base import Handler, Throttle, gcra

log = logging.getLogger("rowgate.store")


class MemoryStore:
    """Dict-backed store with expiry; messages are delivered to subscribers in this process only."""

    shared = False

    def __init__(self, prefix: str = "") -> None:
        self._data: dict[str, tuple[str, float | None]] = {}
        self._subscribers: dict[str, list[Handler]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        log.warning(
            "redis.url is not set: rate limits, lockouts and announcements (revocations, key changes) "
            "stay in this process and serve a single rowgate instance only; set redis.url to run "
            "several instances"
        )

    def _live(self, key: str) -> str | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        value, expires = entry
        if expires is not None and expires <= time.monotonic():
            del self._data[key]
            return None
        return value

    async def incr(self, key: str, ttl: float) -> int:
        current = self._live(key)
        if current is None:
            self._data[key] = ("1", time.monotonic() + ttl)
            return 1
        count = int(current) + 1
        self._data[key] = (str(count), self._data[key][1])
        return count

    async def get(self, key: str) -> str | None:
        return self._live(key)

    async def throttle(self, key: str, limit: int, window: float) -> Throttle:
        current = self._live(key)
        tat, verdict = gcra(None if current is None else float(current), time.monotonic(), limit, window)
        if tat is not None:  # kept until the bucket is full again
            self._data[key] = (repr(tat), tat)
        return verdict

    async def set(
        self, key: str, value: str, ttl: float | None = None, *, only_if_absent: bool = False
    ) -> bool:
        if only_if_absent and self._live(key) is not None:
            return False
        self._data[key] = (value, None if ttl is None else time.monotonic() + ttl)
        return True

    async def delete(self, *keys: str) -> int:
        removed = 0
        for key in keys:
            if self._live(key) is not None:
                removed += 1
            self._data.pop(key, None)
        return removed

    async def ttl(self, key: str) -> float | None:
        if self._live(key) is None:
            return None
        expires = self._data[key][1]
        return None if expires is None else max(0.0, expires - time.monotonic())

    async def publish(self, channel: str, message: str) -> None:
        for handler in list(self._subscribers.get(channel, ())):
            await handler(message)

    async def subscribe(self, channel: str, handler: Handler) -> None:
        self._subscribers.setdefault(channel, []).append(handler)
        await handler(None)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._subscribers.clear()
