"""The ephemeral store: counters, flags and broadcasts that may be lost on restart without harm.

Rate limits (counters, and token buckets for callers), lockouts, revocation entries and replay
guards live here.  Two backends share one
interface: Redis (required when several rowgate instances run) and in-process memory.
"""

from __future__ import annotations

from auth.store.base import EphemeralStore, Handler, Throttle
from auth.store.memory import MemoryStore
from auth.store.redis import RedisStore

__all__ = ["EphemeralStore", "Handler", "MemoryStore", "RedisStore", "Throttle", "open_store"]


async def open_store(url: str | None, prefix: str) -> EphemeralStore:
    """Redis when ``url`` is given (checked to answer), else the in-process store."""
    if url:
        return await RedisStore.connect(url, prefix)
    return MemoryStore(prefix)
