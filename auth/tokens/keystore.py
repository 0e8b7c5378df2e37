"""Signing keys in PostgreSQL, and a local ``KeyRing`` that follows every change.

Rows live in ``rowgate.signing_keys``; the private part is sealed with the master key, bound to
its kid and algorithm (``signing-key:<alg>:<kid>``), so a sealed key copied into another row does
not open.  Every change (the first key, a lifecycle step, an algorithm change) runs under one
transaction-scoped advisory lock, so instances starting at once create a single key; the partial
unique indexes (one active and one next key per algorithm) back that up.  The lifecycle itself
(next, active, retiring, retired) is ``auth.tokens.lifecycle``.

Each instance holds its ring in memory (``SigningKeys``) and reloads it when a change is announced
on the store channel ``keys``, after every store reconnection (the subscriber gets ``None``), and
every ``tokens.rotation.check_interval`` as a safety net, right after stepping the lifecycle.
Listeners (the ``TokenService``) get the new ring at once, so a removed key stops verifying
everywhere.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable

import asyncpg

from rowgate.auth.crypto import SecretBox
from rowgate.auth.db import Database
from rowgate.auth.store import EphemeralStore
from rowgate.auth.tasks import cancel_and_wait
from rowgate.auth.tokens import lifecycle
from rowgate.auth.tokens.keys import KeyRing, SigningKey, State, load_key
from rowgate.auth.tokens.lifecycle import Actor, KeyChange, KeyRow, at, insert_key, sealing_purpose
from rowgate.config.schema import TokenSettings
from rowgate.errors import ConfigError, DecryptionFailed, RowgateError

log = logging.getLogger("rowgate.keys")

CHANNEL = "keys"

_SELECT = """
SELECT kid, algorithm, public_jwk::text AS public_jwk, private_key_enc, status, retired_at
FROM rowgate.signing_keys
WHERE status IN ('next', 'active') OR (status = 'retiring' AND retired_at > $1::timestamptz - $2::interval)
ORDER BY created_at DESC, kid
"""


async def ensure_signing_key(
    db: Database, box: SecretBox, settings: TokenSettings, now: float | None = None
) -> bool:
    """Make ``settings.algorithm`` the one algorithm with an active key; True if anything changed.

    Creates the key at first start, or after ``tokens.algorithm`` changed (the keys of the previous
    algorithm start retiring: they keep verifying for ``retired_key_lifetime``; a next key of
    theirs is withdrawn).  A next key already published for the new algorithm signs rather than a
    fresh one, so ``rowgate keys rotate --algorithm`` ahead of the change keeps relying parties'
    cached JWKS good.
    """
    now = time.time() if now is None else now
    async with db.transaction() as conn:
        await lifecycle.lock(conn, wait=True)
        rows = await conn.fetch("SELECT algorithm FROM rowgate.signing_keys WHERE status = 'active'")
        active = {row["algorithm"] for row in rows}
        if active == {settings.algorithm}:
            return False
        await conn.execute(
            "UPDATE rowgate.signing_keys SET status = 'retired', private_key_enc = NULL, retired_at = $2 "
            "WHERE status = 'next' AND algorithm <> $1",
            settings.algorithm,
            at(now),
        )
        await conn.execute(
            "UPDATE rowgate.signing_keys SET status = 'retiring', retired_at = $2 "
            "WHERE status = 'active' AND algorithm <> $1",
            settings.algorithm,
            at(now),
        )
        if settings.algorithm not in active:
            kid = await _promote_published(conn, settings.algorithm, now)
            if kid is None:
                kid = await insert_key(conn, box, settings.algorithm, "active", now)
            log.info("signing key %s (%s) signs", kid, settings.algorithm)
        return True


async def _promote_published(conn: asyncpg.Connection, algorithm: str, now: float) -> str | None:
    """A next key of the new algorithm (``rowgate keys rotate --algorithm``) signs, if there is one:
    relying parties already hold it."""
    kid: str | None = await conn.fetchval(
        "UPDATE rowgate.signing_keys SET status = 'active', activated_at = $2 "
        "WHERE status = 'next' AND algorithm = $1 RETURNING kid",
        algorithm,
        at(now),
    )
    return kid


async def load_keyring(
    db: Database, box: SecretBox, settings: TokenSettings, now: float | None = None
) -> KeyRing:
    """Every key that verifies, decrypted and parsed once; signing with ``settings.algorithm``."""
    now = time.time() if now is None else now
    lifetime = settings.retired_key_lifetime
    keys = [
        _key_from_row(row, box, lifetime.total_seconds())
        for row in await db.fetch(_SELECT, at(now), lifetime)
    ]
    active = [key for key in keys if key.active]
    if not active:
        raise ConfigError(["tokens: no active signing key in rowgate.signing_keys (run start-up first)"])
    signing = next((key for key in active if key.algorithm == settings.algorithm), None)
    if signing is None:
        signing = active[0]  # newest: another instance runs with a different tokens.algorithm
        log.warning(
            "no active %s signing key (another instance changed tokens.algorithm?); signing with %s",
            settings.algorithm,
            signing.algorithm,
        )
    return KeyRing.of(signing, keys)


def _key_from_row(row: asyncpg.Record, box: SecretBox, lifetime: float) -> SigningKey:
    kid, algorithm = row["kid"], row["algorithm"]
    state: State = row["status"]
    until = row["retired_at"].timestamp() + lifetime if state == "retiring" else None
    try:
        plain = box.open(row["private_key_enc"], sealing_purpose(kid, algorithm))
        key = load_key(kid, algorithm, plain, until, state)
    except DecryptionFailed as exc:
        raise ConfigError(
            [
                f"signing key {kid}: cannot be decrypted with this master key; ROWGATE_MASTER_KEY must "
                "be the key this database was set up with (or the row was altered)"
            ]
        ) from exc
    except (ValueError, KeyError) as exc:
        raise ConfigError([f"signing key {kid}: the stored key is not a usable {algorithm} key"]) from exc
    stored = None if row["public_jwk"] is None else json.loads(row["public_jwk"])
    if stored != key.public_jwk():
        raise ConfigError([f"signing key {kid}: public_jwk does not match the private key (row altered?)"])
    return key


Listener = Callable[[KeyRing], None]
ChangeListener = Callable[[list[KeyChange]], None]


class SigningKeys:
    """This instance's current ``KeyRing``, kept in step with the database and the other instances."""

    def __init__(
        self,
        db: Database,
        box: SecretBox,
        store: EphemeralStore,
        settings: TokenSettings,
        *,
        refresh_interval: float | None = None,
        retry_interval: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db, self._box, self._store, self._settings = db, box, store, settings
        refresh = (
            settings.rotation.check_interval.total_seconds() if refresh_interval is None else refresh_interval
        )
        self._intervals = (refresh, retry_interval)
        self._clock = clock
        self._ring: KeyRing | None = None
        self._listeners: list[Listener] = []
        self._change_listeners: list[ChangeListener] = []
        self._lock = asyncio.Lock()
        self._stale = False
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def ring(self) -> KeyRing:
        if self._ring is None:
            raise RuntimeError("SigningKeys.start() has not run")
        return self._ring

    async def start(self) -> KeyRing:
        """Create the key if needed, step the lifecycle, load the ring, and follow changes from now on."""
        changed = await ensure_signing_key(self._db, self._box, self._settings, self._clock())
        if await self._advance() or changed:
            await self._announce()
        await self.reload()
        await self._store.subscribe(CHANNEL, self._on_message)
        self._task = asyncio.create_task(self._refresh_forever())
        return self.ring

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener`` with the current ring now and with every new ring after."""
        self._listeners.append(listener)
        listener(self.ring)

    def on_changes(self, listener: ChangeListener) -> None:
        """Call ``listener`` with the lifecycle steps this instance takes (metrics count them)."""
        self._change_listeners.append(listener)

    async def rotate(
        self, algorithm: str | None = None, *, at_once: bool = False, by: Actor | None = None
    ) -> list[KeyChange]:
        """Rotate the signing key (default: the configured algorithm) everywhere: see
        ``lifecycle.rotate``; the steps taken."""
        algorithm = algorithm or self._settings.algorithm
        changes = await lifecycle.rotate(
            self._db, self._box, self._settings, self._clock(), algorithm, at_once=at_once, by=by
        )
        await self._changed(changes)
        return changes

    async def retire(self, kid: str, *, by: Actor | None = None) -> KeyChange:
        """Retire a next or retiring key now, everywhere."""
        change = await lifecycle.retire(self._db, kid, self._clock(), by=by)
        await self._changed([change])
        return change

    async def listing(self) -> list[KeyRow]:
        """Every key with its state, newest first."""
        return await lifecycle.list_keys(self._db)

    async def tick(self) -> list[KeyChange]:
        """Take the lifecycle steps that are due (one instance at a time), then re-read the keys."""
        changes = await self._advance()
        if changes:
            await self._announce()
        await self.reload()
        return changes

    async def reload(self) -> KeyRing:
        """Re-read the keys; listeners hear of the new ring only when something changed."""
        async with self._lock:
            ring = await load_keyring(self._db, self._box, self._settings, self._clock())
            if self._ring is not None and ring.same_as(self._ring):
                return self._ring
            self._ring = ring
            for listener in self._listeners:
                listener(ring)
            return ring

    async def close(self) -> None:
        """Stop following changes (announcements that still arrive are ignored)."""
        self._closed = True
        await cancel_and_wait(self._task)

    async def _advance(self) -> list[KeyChange]:
        changes = await lifecycle.advance(self._db, self._box, self._settings, self._clock())
        self._tell(changes)
        return changes

    async def _changed(self, changes: list[KeyChange]) -> None:
        self._tell(changes)
        await self.reload()
        await self._announce()

    def _tell(self, changes: list[KeyChange]) -> None:
        for change in changes:
            log.info("signing key %s (%s): %s %s", change.kid, change.algorithm, change.event, change.details)
        for listener in self._change_listeners:
            listener(changes)

    async def _announce(self) -> None:
        await self._store.publish(CHANNEL, "changed")

    async def _on_message(self, message: str | None) -> None:
        # Any message (or a reconnection, None) means "re-read": the database is the truth.
        if not self._closed:
            await self._quietly(self.reload)

    async def _refresh_forever(self) -> None:
        refresh, retry = self._intervals
        while True:
            await asyncio.sleep(retry if self._stale else refresh)
            await self._quietly(self.tick)

    async def _quietly(self, step: Callable[[], Awaitable[object]]) -> None:
        try:
            await step()
            self._stale = False
        except RowgateError as exc:
            self._stale = True
            log.warning("could not reload the signing keys (%s); keeping the current ones", exc.code)
