"""Signing keys in PostgreSQL, and a local ``KeyRing`` that follows every change.

Rows live in ``rowgate.signing_keys``; the private part is sealed with the master key, bound to
its kid and algorithm (``signing-key:<alg>:<kid>``), so a sealed key copied into another row does
not open.  Every change (the first key, a rotation, an algorithm change) runs under one
transaction-scoped advisory lock, so instances starting at once create a single key; the partial
unique index (one active key per algorithm) backs that up.

Each instance holds its ring in memory (``SigningKeys``) and reloads it when a change is announced
on the store channel ``keys``, after every store reconnection (the subscriber gets ``None``), and
every ``refresh_interval`` seconds as a safety net.  Listeners (the ``TokenService``) get the new
ring at once, so a removed key stops verifying everywhere.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import timedelta

import asyncpg

from rowgate.auth.crypto import SecretBox
from rowgate.auth.db import Database
from rowgate.auth.store import EphemeralStore
from rowgate.auth.tasks import cancel_and_wait
from rowgate.auth.tokens.keys import KeyRing, SigningKey, generate_key, load_key, private_bytes
from rowgate.config.schema import TokenSettings
from rowgate.errors import ConfigError, DecryptionFailed, RowgateError

log = logging.getLogger("rowgate.keys")

CHANNEL = "keys"
#: Arbitrary constant naming the signing-key lock (``pg_advisory_xact_lock`` takes a bigint).
LOCK_ID = 0x726F776B6579  # "rowkey"

_SELECT = """
SELECT kid, algorithm, public_jwk::text AS public_jwk, private_key_enc, status, retired_at
FROM rowgate.signing_keys
WHERE status = 'active' OR retired_at > now() - $1::interval
ORDER BY created_at DESC, kid
"""


def sealing_purpose(kid: str, algorithm: str) -> bytes:
    """Associated data for a sealed signing key: it opens only as this kid and algorithm."""
    return f"signing-key:{algorithm}:{kid}".encode()


async def ensure_signing_key(db: Database, box: SecretBox, settings: TokenSettings) -> bool:
    """Make ``settings.algorithm`` the one algorithm with an active key; True if anything changed.

    Creates the key at first start, or after ``tokens.algorithm`` changed (the keys of the previous
    algorithm are retired: they keep verifying for ``retired_key_lifetime``).  Retired keys past
    that window are deleted.
    """
    async with db.transaction() as conn:
        await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK_ID)
        await _prune(conn, settings.retired_key_lifetime)
        rows = await conn.fetch("SELECT algorithm FROM rowgate.signing_keys WHERE status = 'active'")
        active = {row["algorithm"] for row in rows}
        if active == {settings.algorithm}:
            return False
        await conn.execute(
            "UPDATE rowgate.signing_keys SET status = 'retired', retired_at = now() "
            "WHERE status = 'active' AND algorithm <> $1",
            settings.algorithm,
        )
        if settings.algorithm not in active:
            kid = await _insert(conn, box, settings.algorithm)
            log.info("created signing key %s (%s)", kid, settings.algorithm)
        return True


async def rotate_signing_key(
    db: Database, box: SecretBox, algorithm: str, retired_lifetime: timedelta | None = None
) -> str:
    """Create a new active key for ``algorithm`` and retire the current one; the new kid.

    Callers announce the change (``SigningKeys.rotate`` does) so that every instance reloads.
    """
    async with db.transaction() as conn:
        await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK_ID)
        if retired_lifetime is not None:
            await _prune(conn, retired_lifetime)
        await conn.execute(
            "UPDATE rowgate.signing_keys SET status = 'retired', retired_at = now() "
            "WHERE status = 'active' AND algorithm = $1",
            algorithm,
        )
        kid = await _insert(conn, box, algorithm)
    log.info("rotated the %s signing key; new kid %s", algorithm, kid)
    return kid


async def _insert(conn: asyncpg.Connection, box: SecretBox, algorithm: str) -> str:
    key = await asyncio.to_thread(generate_key, algorithm)  # RSA-3072 takes a moment: off the loop
    public = key.public_jwk()
    await conn.execute(
        "INSERT INTO rowgate.signing_keys (kid, algorithm, public_jwk, private_key_enc, status) "
        "VALUES ($1, $2, $3::jsonb, $4, 'active')",
        key.kid,
        algorithm,
        None if public is None else json.dumps(public),
        box.seal(private_bytes(key), sealing_purpose(key.kid, algorithm)),
    )
    return key.kid


async def _prune(conn: asyncpg.Connection, retired_lifetime: timedelta) -> None:
    await conn.execute(
        "DELETE FROM rowgate.signing_keys WHERE status = 'retired' AND retired_at <= now() - $1::interval",
        retired_lifetime,
    )


async def load_keyring(db: Database, box: SecretBox, settings: TokenSettings) -> KeyRing:
    """Every key that still verifies, decrypted and parsed once; signing with ``settings.algorithm``."""
    lifetime = settings.retired_key_lifetime
    keys = [_key_from_row(row, box, lifetime) for row in await db.fetch(_SELECT, lifetime)]
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


def _key_from_row(row: asyncpg.Record, box: SecretBox, lifetime: timedelta) -> SigningKey:
    kid, algorithm = row["kid"], row["algorithm"]
    until = None if row["status"] == "active" else row["retired_at"].timestamp() + lifetime.total_seconds()
    try:
        plain = box.open(row["private_key_enc"], sealing_purpose(kid, algorithm))
        key = load_key(kid, algorithm, plain, until)
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


class SigningKeys:
    """This instance's current ``KeyRing``, kept in step with the database and the other instances."""

    def __init__(
        self,
        db: Database,
        box: SecretBox,
        store: EphemeralStore,
        settings: TokenSettings,
        *,
        refresh_interval: float = 300.0,
        retry_interval: float = 2.0,
    ) -> None:
        self._db, self._box, self._store, self._settings = db, box, store, settings
        self._intervals = (refresh_interval, retry_interval)
        self._ring: KeyRing | None = None
        self._listeners: list[Listener] = []
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
        """Create the key if needed, load the ring, and follow changes from now on."""
        if await ensure_signing_key(self._db, self._box, self._settings):
            await self._announce()
        await self.reload()
        await self._store.subscribe(CHANNEL, self._on_message)
        self._task = asyncio.create_task(self._refresh_forever())
        return self.ring

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener`` with the current ring now and with every new ring after."""
        self._listeners.append(listener)
        listener(self.ring)

    async def rotate(self, algorithm: str | None = None) -> str:
        """Rotate the signing key (default: the configured algorithm) everywhere; the new kid."""
        kid = await rotate_signing_key(
            self._db, self._box, algorithm or self._settings.algorithm, self._settings.retired_key_lifetime
        )
        await self.reload()
        await self._announce()
        return kid

    async def reload(self) -> KeyRing:
        """Re-read the keys; listeners hear of the new ring only when something changed."""
        async with self._lock:
            ring = await load_keyring(self._db, self._box, self._settings)
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

    async def _announce(self) -> None:
        await self._store.publish(CHANNEL, "changed")

    async def _on_message(self, message: str | None) -> None:
        # Any message (or a reconnection, None) means "re-read": the database is the truth.
        if not self._closed:
            await self._reload_quietly()

    async def _refresh_forever(self) -> None:
        refresh, retry = self._intervals
        while True:
            await asyncio.sleep(retry if self._stale else refresh)
            await self._reload_quietly()

    async def _reload_quietly(self) -> None:
        try:
            await self.reload()
            self._stale = False
        except RowgateError as exc:
            self._stale = True
            log.warning("could not reload the signing keys (%s); keeping the current ones", exc.code)
