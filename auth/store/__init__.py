"""The ephemeral store: counters, flags and broadcasts that may be lost on restart without harm.

Rate limits (counters, and token buckets for callers), lockouts and replay guards live here,
and the announcements (revocations, key rotations, API-key and role changes) that keep every
instance's caches current; PostgreSQL holds what those caches are rebuilt from.  Two backends
share one interface: Redis (required when several rowgate instances run) and in-process memory.
"""

from __future__ import annotations

from rowgate.auth.store.base import EphemeralStore, Handler, Throttle
from rowgate.auth.store.memory import MemoryStore
from rowgate.auth.store.redis import RedisStore
from rowgate.config.schema import RedisSettings

__all__ = ["EphemeralStore", "Handler", "MemoryStore", "RedisStore", "Throttle", "open_store"]


async def open_store(settings: RedisSettings) -> EphemeralStore:
    """Redis when ``redis.url`` is set (checked to answer), else the in-process store."""
    if settings.url:
        return await RedisStore.connect(
            settings.url,
            settings.key_prefix,
            state_check_interval=settings.state_check_interval.total_seconds(),
        )
    return MemoryStore(settings.key_prefix)
