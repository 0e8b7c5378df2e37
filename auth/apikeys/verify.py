"""Authenticating ``X-API-Key``: as cheap as a cached JWT once the key is known.

A key is checked for shape and checksum first (no cache, no database for garbage), then hashed
and looked up by its SHA-256 digest in a local cache: a hit costs two dictionary lookups and no
I/O.  A miss reads the key (with its creator's current role) in one query; concurrent misses for
one key share that query.  A key not found is remembered as unknown for
``api_keys.negative_cache_ttl``, so that a client hammering with a wrong key costs one query per
interval, not one per request.

Every instance hears of changes on the store channel ``api-keys`` and drops what they touch at
once: a revoked or rotated key (by id), a new key (its digest leaves the unknown list, so it works
everywhere from its first request), a creator demoted or removed (every key they created is read
again).  A lookup that raced with an announcement is used for its own request but not cached (an
epoch counter tells), and a store reconnection empties the cache.  ``api_keys.cache_ttl`` bounds
anything a lost announcement could leave behind.  Whatever outlives a request (a WebSocket
opened with a key) asks to be called back on every change (``listen``) and asks again
(``check``, which counts no use).

Usage is counted in memory (``UsageCounter``); keys are never logged.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from rowgate.auth.apikeys.format import digest, parse
from rowgate.auth.apikeys.principal import KeyRecord, key_principal
from rowgate.auth.apikeys.usage import UsageCounter
from rowgate.auth.db import Database
from rowgate.auth.principal import Principal
from rowgate.auth.rbac.catalog import RoleCatalog
from rowgate.auth.rbac.permissions import canonical
from rowgate.auth.store import EphemeralStore
from rowgate.config.tenancy import ApiKeySettings
from rowgate.errors import InvalidCredentials

log = logging.getLogger("rowgate.api_keys")

CHANNEL = "api-keys"

_LOOKUP = """
SELECT k.id::text, k.org_id::text, k.type, k.scopes, k.created_by::text, m.role,
       extract(epoch FROM least(k.expires_at, k.grace_until))::float8 AS usable_until,
       k.revoked_at IS NOT NULL AS revoked, k.digest,
       k.rate_limit, extract(epoch FROM k.rate_window)::int AS rate_window
FROM rowgate.api_keys k
LEFT JOIN rowgate.memberships m ON m.org_id = k.org_id AND m.user_id = k.created_by
WHERE k.digest = $1
"""


@dataclass(slots=True)
class _Entry:
    record: KeyRecord
    deadline: float
    #: ``RoleCatalog.version`` the principal was derived at (-1: not yet).
    version: int = -1
    principal: Principal | None = None


def _invalid() -> InvalidCredentials:
    return InvalidCredentials(
        "The API key is not valid: check that it was copied whole.", code="invalid_api_key"
    )


class ApiKeyVerifier:
    def __init__(
        self,
        db: Database,
        store: EphemeralStore,
        catalog: RoleCatalog,
        usage: UsageCounter,
        settings: ApiKeySettings,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db, self._store, self._catalog, self._usage = db, store, catalog, usage
        self._size = settings.cache_size
        self._ttl = settings.cache_ttl.total_seconds()
        self._unknown_ttl = settings.negative_cache_ttl.total_seconds()
        self.clock, self._monotonic = clock, monotonic
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()
        self._by_id: dict[str, bytes] = {}
        self._unknown: OrderedDict[bytes, float] = OrderedDict()
        self._inflight: dict[bytes, asyncio.Task[_Entry | None]] = {}
        self._epoch = 0
        #: Announcements received from the store (this instance's own included).
        self.heard = 0
        self._listeners: list[Callable[[], None]] = []

    def listen(self, changed: Callable[[], None]) -> None:
        """Call ``changed`` whenever keys may have changed (an announcement, a reconnection)."""
        self._listeners.append(changed)

    async def start(self) -> None:
        await self._store.subscribe(CHANNEL, self._on_message)

    async def authenticate(self, text: str) -> Principal:
        """The Principal the key ``text`` acts as, counting one use; InvalidCredentials otherwise."""
        record, principal = await self._verified(text)
        self._usage.record(record.id, self.clock())
        return principal

    async def check(self, text: str) -> Principal:
        """The Principal the key ``text`` acts as now, without counting a use (a WebSocket opened
        with it asks again whenever keys change); InvalidCredentials otherwise."""
        return (await self._verified(text))[1]

    async def _verified(self, text: str) -> tuple[KeyRecord, Principal]:
        if parse(text) is None:
            raise _invalid()
        key_digest = digest(text)
        entry = self._entries.get(key_digest)
        if entry is None or entry.deadline <= self._monotonic():
            entry = await self._load(key_digest)
        else:
            self._entries.move_to_end(key_digest)
        record = entry.record
        now = self.clock()
        if record.revoked:
            raise InvalidCredentials("This API key was revoked.", code="api_key_revoked")
        if record.expired(now):
            raise InvalidCredentials("This API key has expired.", code="api_key_expired")
        principal = await self._principal(entry)
        if principal is None:
            raise InvalidCredentials(
                "This API key no longer works: the member who created it left the organisation.",
                code="api_key_inactive",
            )
        return record, principal

    async def _principal(self, entry: _Entry) -> Principal | None:
        version = self._catalog.version
        if entry.version != version:
            record = entry.record
            permissions = await self._catalog.permissions(record.org_id, record.creator_role)
            entry.principal = key_principal(record, permissions, self._catalog.admin_roles)
            entry.version = version
        return entry.principal

    async def _load(self, key_digest: bytes) -> _Entry:
        until = self._unknown.get(key_digest)
        if until is not None and until > self._monotonic():
            raise _invalid()
        task = self._inflight.get(key_digest)
        if task is None:
            task = asyncio.create_task(self._fetch(key_digest))
            self._inflight[key_digest] = task
            task.add_done_callback(lambda done: self._settle(key_digest, done))
        entry = await asyncio.shield(task)
        if entry is None:
            raise _invalid()
        return entry

    def _settle(self, key_digest: bytes, task: asyncio.Task[_Entry | None]) -> None:
        self._inflight.pop(key_digest, None)
        if not task.cancelled():
            task.exception()  # retrieved: a failed lookup is reported to its waiters, not the loop

    async def _fetch(self, key_digest: bytes) -> _Entry | None:
        epoch = self._epoch
        row = await self._db.fetchrow(_LOOKUP, key_digest)
        fresh = epoch == self._epoch  # nothing was announced while we read
        if row is None or not hmac.compare_digest(bytes(row["digest"]), key_digest):
            if fresh:
                self._remember_unknown(key_digest)
            return None
        record = KeyRecord(
            id=row["id"],
            org_id=row["org_id"],
            kind=row["type"],
            scopes=canonical(row["scopes"]),
            created_by=row["created_by"],
            creator_role=row["role"],
            usable_until=row["usable_until"],
            revoked=row["revoked"],
            rate_limit=None if row["rate_limit"] is None else (row["rate_limit"], row["rate_window"]),
        )
        entry = _Entry(record, self._monotonic() + self._ttl)
        if fresh and self._size > 0:
            self._remember(key_digest, entry)
        return entry

    def _remember(self, key_digest: bytes, entry: _Entry) -> None:
        self._entries[key_digest] = entry
        self._entries.move_to_end(key_digest)
        self._by_id[entry.record.id] = key_digest
        while len(self._entries) > self._size:
            _, dropped = self._entries.popitem(last=False)
            self._by_id.pop(dropped.record.id, None)

    def _remember_unknown(self, key_digest: bytes) -> None:
        if self._unknown_ttl <= 0 or self._size <= 0:
            return
        self._unknown[key_digest] = self._monotonic() + self._unknown_ttl
        self._unknown.move_to_end(key_digest)
        while len(self._unknown) > self._size:
            self._unknown.popitem(last=False)

    # Announcements: applied here at once, and on every other instance when they hear of them.

    async def created(self, key_digest: bytes) -> None:
        """A key was created (after commit): it must work at once on every instance."""
        await self._announce({"created": key_digest.hex()})

    async def forget(self, *key_ids: str) -> None:
        """Keys were revoked or changed (after commit): read them again everywhere."""
        if key_ids:
            await self._announce({"ids": list(key_ids)})

    async def creator_changed(self, org_id: str | None, user_id: str) -> None:
        """A member's role changed or they left: their keys in ``org_id`` (None: in every
        organisation, when the account was deleted) are read again."""
        await self._announce({"creator": [org_id, user_id]})

    async def _announce(self, message: dict[str, object]) -> None:
        self._apply(message)
        await self._store.publish(CHANNEL, json.dumps(message))

    async def _on_message(self, message: str | None) -> None:
        if message is None:  # (re)connected: announcements may have been missed
            self._epoch += 1
            self._entries.clear()
            self._by_id.clear()
            self._unknown.clear()
            self._notify()
            return
        self.heard += 1
        try:
            self._apply(json.loads(message))
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("ignored a malformed api-keys announcement")

    def _notify(self) -> None:
        for changed in self._listeners:
            changed()

    def _apply(self, message: dict[str, object]) -> None:
        self._forget(message)
        self._notify()

    def _forget(self, message: dict[str, object]) -> None:
        self._epoch += 1
        if "created" in message:
            self._unknown.pop(bytes.fromhex(str(message["created"])), None)
        for key_id in message.get("ids", ()):  # type: ignore[attr-defined]
            key_digest = self._by_id.pop(str(key_id), None)
            if key_digest is not None:
                self._entries.pop(key_digest, None)
        if "creator" in message:
            creator: list[str | None] = message["creator"]  # type: ignore[assignment]
            org_id, user_id = creator
            stale = [
                d
                for d, e in self._entries.items()
                if e.record.created_by == user_id and org_id in (None, e.record.org_id)
            ]
            for key_digest in stale:
                self._by_id.pop(self._entries.pop(key_digest).record.id, None)
