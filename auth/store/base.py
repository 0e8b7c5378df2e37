"""The interface both ephemeral-store backends implement."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

#: A subscriber: called with each message, or with ``None`` after (re)connecting or when the store
#: lost its state (restarted, flushed): messages may have been missed and the subscriber should
#: re-read what it caches from the database.  A handler that raises on ``None`` is called again.
Handler = Callable[[str | None], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Throttle:
    """One request counted against a token bucket."""

    #: Whether the request may go on.
    allowed: bool
    #: Requests that may follow at once.
    remaining: int
    #: Seconds until ``remaining`` grows by one (for a refused request: until one may go).
    wait: float


def gcra(tat: float | None, now: float, limit: int, window: float) -> tuple[float | None, Throttle]:
    """A token bucket of ``limit`` requests refilled over ``window``, kept as one time (GCRA).

    ``tat`` is the bucket's "theoretical arrival time" (None: a full bucket): the time at which
    it would be full again.  A request is allowed while ``tat`` is at most ``window`` minus one
    interval ahead of ``now``, and moves it on by one interval.  Returns the new ``tat`` to keep
    (None when the request was refused: nothing changes) and the verdict.  The Redis store runs
    the same arithmetic in a Lua script.
    """
    interval = window / limit
    tat = now if tat is None or tat < now else tat
    allow_at = tat + interval - window
    if now < allow_at:
        return None, Throttle(False, 0, allow_at - now)
    remaining = math.floor((now - allow_at) / interval + 1e-9)
    return tat + interval, Throttle(True, remaining, allow_at + (remaining + 1) * interval - now)


class EphemeralStore(Protocol):
    """Short-lived shared state.  Keys are given without the configured prefix."""

    #: True when every rowgate instance sees the same state (Redis), False for in-process memory.
    shared: bool

    async def incr(self, key: str, ttl: float) -> int:
        """Add one to ``key`` and return the new count; a new key expires after ``ttl`` seconds."""
        ...

    async def get(self, key: str) -> str | None: ...

    async def set(
        self, key: str, value: str, ttl: float | None = None, *, only_if_absent: bool = False
    ) -> bool:
        """Store ``value``; with ``only_if_absent``, only when the key does not exist (then True)."""
        ...

    async def delete(self, *keys: str) -> int: ...

    async def throttle(self, key: str, limit: int, window: float) -> Throttle:
        """Count one request against the token bucket ``key`` (``limit`` requests refilled over
        ``window`` seconds, see ``gcra``), atomically for every instance that shares the store."""
        ...

    async def ttl(self, key: str) -> float | None:
        """Seconds until ``key`` expires; None when it does not exist or never expires."""
        ...

    async def publish(self, channel: str, message: str) -> None: ...

    async def subscribe(self, channel: str, handler: Handler) -> None:
        """Call ``handler`` for every message on ``channel`` until the store is closed."""
        ...

    async def ping(self) -> None:
        """Raise ServiceUnavailable when the store does not answer."""
        ...

    async def close(self) -> None: ...
