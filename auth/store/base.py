"""The interface both ephemeral-store backends implement."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

#: A subscriber: called with each message, or with ``None`` after (re)connecting or when the store
#: lost its state (restarted, flushed): messages may have been missed and the subscriber should
#: re-read what it caches from the database.  A handler that raises on ``None`` is called again.
Handler = Callable[[str | None], Awaitable[None]]


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
