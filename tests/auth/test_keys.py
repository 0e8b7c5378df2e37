"""Signing keys: creation at first start, storage at rest, the JWKS, rotation across instances."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import pytest

from rowgate.auth.crypto import SecretBox
from rowgate.auth.db import Database
from rowgate.auth.store import EphemeralStore, MemoryStore, RedisStore
from rowgate.auth.tokens.keys import (
    ALGORITHMS,
    PUBLIC_JWK_MEMBERS,
    KeyRing,
    generate_key,
    load_key,
    private_bytes,
)
from rowgate.auth.tokens.keystore import (
    CHANNEL,
    SigningKeys,
    ensure_signing_key,
    load_keyring,
    rotate_signing_key,
    sealing_purpose,
)
from rowgate.auth.tokens.service import TokenService
from rowgate.config.schema import DatabaseSettings, TokenSettings
from rowgate.errors import ConfigError, InvalidToken
from tests import keykit
from tests.conftest import REDIS_URL

PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "oth", "r", "t"}
EDDSA = TokenSettings(algorithm="EdDSA")


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(secrets.token_bytes(32))


async def connect(url: str) -> Database:
    return await Database.connect(url, DatabaseSettings(pool_min_size=0, pool_max_size=2))


@pytest.fixture
async def db(migrated_database: str) -> AsyncIterator[Database]:
    database = await connect(migrated_database)
    yield database
    await database.close()


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``check()`` holds (announcements travel through Redis asynchronously)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "the condition never came true"
        await asyncio.sleep(0.01)


async def rows(db: Database) -> list[dict[str, object]]:
    return [dict(r) for r in await db.fetch("SELECT * FROM rowgate.signing_keys ORDER BY created_at")]


# -- pure: key material and the JWKS ----------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_the_jwks_never_holds_private_members(algorithm: str) -> None:
    active = keykit.key(algorithm)
    retired = keykit.key(algorithm, "retired").retired(keykit.NOW + 60)
    document = KeyRing.of(active, [retired]).jwks(now=keykit.NOW)
    text = json.dumps(document)
    for jwk in document["keys"]:
        assert set(jwk) <= PUBLIC_JWK_MEMBERS | {"kid", "alg", "use"}
        assert not set(jwk) & PRIVATE_JWK_MEMBERS
        assert jwk["use"] == "sig"
        assert jwk["alg"] == algorithm
    if algorithm == "HS256":
        assert document == {"keys": []}
        assert keykit.b64(active.private) not in text
    else:
        assert [jwk["kid"] for jwk in document["keys"]] == [active.kid, retired.kid]


def test_the_jwks_drops_a_retired_key_once_its_window_closes() -> None:
    active = keykit.key("EdDSA")
    retired = keykit.key("EdDSA", "retired").retired(keykit.NOW + 60)
    ring = KeyRing.of(active, [retired])
    assert [k["kid"] for k in ring.jwks(now=keykit.NOW + 61)["keys"]] == [active.kid]
    assert ring.find(retired.kid, keykit.NOW + 59) is retired
    assert ring.find(retired.kid, keykit.NOW + 61) is None


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_serialised_key_loads_back_only_as_its_own_algorithm(algorithm: str) -> None:
    original = keykit.key(algorithm)
    data = private_bytes(original)
    loaded = load_key(original.kid, algorithm, data)
    assert loaded.public_jwk() == original.public_jwk()
    assert loaded.verify(b"message", original.sign(b"message"))
    for other in ALGORITHMS:
        if other != algorithm:
            with pytest.raises(ValueError, match=r"key|secret"):
                load_key(original.kid, other, data)


def test_kids_are_random_and_url_safe() -> None:
    kids = {generate_key("HS256").kid for _ in range(100)}
    assert len(kids) == 100
    assert all(len(kid) == 22 and kid.replace("-", "").replace("_", "").isalnum() for kid in kids)


def test_a_key_never_shows_its_private_part() -> None:
    hs = keykit.key("HS256")
    assert repr(hs.private) not in repr(hs)
    assert "private" not in repr(keykit.key("EdDSA")).split("kid")[0]


# -- PostgreSQL: first start, storage, algorithm change ---------------------------------------


async def test_first_start_creates_one_active_key(db: Database, box: SecretBox) -> None:
    assert await ensure_signing_key(db, box, EDDSA) is True
    assert await ensure_signing_key(db, box, EDDSA) is False
    stored = await rows(db)
    assert [(r["algorithm"], r["status"]) for r in stored] == [("EdDSA", "active")]
    ring = await load_keyring(db, box, EDDSA)
    assert ring.signing.kid == stored[0]["kid"]
    assert ring.jwks()["keys"][0]["kid"] == stored[0]["kid"]


async def test_instances_starting_at_once_create_a_single_key(migrated_database: str, box: SecretBox) -> None:
    instances = [await connect(migrated_database) for _ in range(4)]
    try:
        changed = await asyncio.gather(*(ensure_signing_key(db, box, EDDSA) for db in instances))
        stored = await rows(instances[0])
    finally:
        for db in instances:
            await db.close()
    assert sorted(changed) == [False, False, False, True]
    assert len(stored) == 1


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_the_private_key_is_stored_sealed(db: Database, box: SecretBox, algorithm: str) -> None:
    await ensure_signing_key(db, box, TokenSettings(algorithm=algorithm))
    (row,) = await rows(db)
    ring = await load_keyring(db, box, TokenSettings(algorithm=algorithm))
    secret = private_bytes(ring.signing)
    sealed = row["private_key_enc"]
    assert isinstance(sealed, bytes)
    assert sealed[0] == 1
    assert secret not in sealed
    assert secret[-32:] not in sealed  # no recognisable tail of the key material either
    assert box.open(sealed, sealing_purpose(ring.signing.kid, algorithm)) == secret
    stored_jwk = None if row["public_jwk"] is None else json.loads(str(row["public_jwk"]))
    assert stored_jwk == ring.signing.public_jwk()
    assert not set(stored_jwk or {}) & PRIVATE_JWK_MEMBERS


async def test_changing_the_algorithm_keeps_old_tokens_valid(db: Database, box: SecretBox) -> None:
    await ensure_signing_key(db, box, EDDSA)
    before = await load_keyring(db, box, EDDSA)
    old_token = keykit.service(before, clock=time.time).issue_access(sub="u", sid="s", amr=["pwd"]).token

    es256 = TokenSettings(algorithm="ES256")
    assert await ensure_signing_key(db, box, es256) is True
    after = await load_keyring(db, box, es256)
    assert after.signing.algorithm == "ES256"
    assert {(r["algorithm"], r["status"]) for r in await rows(db)} == {
        ("EdDSA", "retired"),
        ("ES256", "active"),
    }
    assert {k["alg"] for k in after.jwks()["keys"]} == {"EdDSA", "ES256"}
    service = keykit.service(after, clock=time.time)
    assert service.verify_access(old_token).sub == "u"
    new_token = service.issue_access(sub="u", sid="s", amr=["pwd"]).token
    assert service.verify_access(new_token).sub == "u"


async def test_the_wrong_master_key_stops_start_up_with_a_clear_error(db: Database, box: SecretBox) -> None:
    await ensure_signing_key(db, box, EDDSA)
    with pytest.raises(ConfigError, match="master key"):
        await load_keyring(db, SecretBox(secrets.token_bytes(32)), EDDSA)


async def test_a_sealed_key_copied_to_another_row_does_not_open(db: Database, box: SecretBox) -> None:
    await ensure_signing_key(db, box, EDDSA)
    await rotate_signing_key(db, box, "EdDSA")
    first, second = await rows(db)
    await db.execute(
        "UPDATE rowgate.signing_keys SET private_key_enc = $1 WHERE kid = $2",
        first["private_key_enc"],
        second["kid"],
    )
    with pytest.raises(ConfigError, match=str(second["kid"])):
        await load_keyring(db, box, EDDSA)


async def test_an_altered_public_jwk_is_refused(db: Database, box: SecretBox) -> None:
    await ensure_signing_key(db, box, EDDSA)
    attacker = json.dumps(generate_key("EdDSA").public_jwk())
    await db.execute("UPDATE rowgate.signing_keys SET public_jwk = $1::jsonb", attacker)
    with pytest.raises(ConfigError, match="public_jwk"):
        await load_keyring(db, box, EDDSA)


async def test_retired_keys_past_their_window_stop_verifying_and_are_deleted(
    db: Database, box: SecretBox
) -> None:
    settings = TokenSettings(algorithm="EdDSA", retired_key_ttl=timedelta(minutes=10))
    await ensure_signing_key(db, box, settings)
    ring = await load_keyring(db, box, settings)
    service = keykit.service(ring, clock=time.time)
    token = service.issue_access(sub="u", sid="s", amr=["pwd"]).token
    old_kid = ring.signing.kid

    await rotate_signing_key(db, box, "EdDSA")
    service.use_keyring(await load_keyring(db, box, settings))
    assert service.verify_access(token).sub == "u"  # retired, inside its window

    await db.execute("UPDATE rowgate.signing_keys SET retired_at = now() - interval '11 minutes'")
    service.use_keyring(await load_keyring(db, box, settings))
    assert old_kid not in {k["kid"] for k in service.keyring.jwks()["keys"]}
    with pytest.raises(InvalidToken, match="key this server does not know"):
        service.verify_access(token)
    await ensure_signing_key(db, box, settings)  # start-up prunes it
    assert old_kid not in {r["kid"] for r in await rows(db)}


# -- following rotations across instances ----------------------------------------------------

StoreFactory = Callable[[], Awaitable[EphemeralStore]]


@pytest.fixture(params=["memory", "redis"])
async def stores(request: pytest.FixtureRequest, redis_prefix: str) -> AsyncIterator[StoreFactory]:
    """Makes the store each instance uses: one shared in-process store, or Redis connections."""
    opened: list[EphemeralStore] = []
    shared = MemoryStore(redis_prefix)

    async def make() -> EphemeralStore:
        store: EphemeralStore = shared
        if request.param == "redis":
            store = await RedisStore.connect(REDIS_URL, prefix=redis_prefix)
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


async def instance(url: str, box: SecretBox, store: EphemeralStore, **options: float) -> SigningKeys:
    keys = SigningKeys(await connect(url), box, store, EDDSA, **options)
    await keys.start()
    return keys


async def stop(*instances: SigningKeys) -> None:
    for keys in instances:
        await keys.close()
        await keys._db.close()


async def test_a_rotation_reaches_every_instance(
    migrated_database: str, box: SecretBox, stores: StoreFactory
) -> None:
    a = await instance(migrated_database, box, await stores())
    b = await instance(migrated_database, box, await stores())
    try:
        assert a.ring.signing.kid == b.ring.signing.kid
        issuer, verifier = TokenService(keykit.settings(), a.ring), TokenService(keykit.settings(), b.ring)
        a.add_listener(issuer.use_keyring)
        b.add_listener(verifier.use_keyring)
        before = issuer.issue_access(sub="u", sid="s", amr=["pwd"]).token
        verifier.verify_access(before)
        assert len(verifier.cache) == 1

        new_kid = await a.rotate()
        await eventually(lambda: b.ring.signing.kid == new_kid)
        assert verifier.keyring is b.ring
        assert len(verifier.cache) == 0  # the ring changed: what verified before is checked again
        after = issuer.issue_access(sub="u", sid="s", amr=["pwd"]).token
        assert verifier.verify_access(after).sub == "u"
        assert verifier.verify_access(before).sub == "u"  # the retired key still verifies
    finally:
        await stop(a, b)


async def test_a_removed_key_stops_verifying_at_once_even_when_cached(
    migrated_database: str, box: SecretBox, stores: StoreFactory
) -> None:
    a = await instance(migrated_database, box, await stores())
    b_store = await stores()
    b = await instance(migrated_database, box, b_store)
    try:
        verifier = TokenService(keykit.settings(), b.ring)
        b.add_listener(verifier.use_keyring)
        token = TokenService(keykit.settings(), a.ring).issue_access(sub="u", sid="s", amr=["pwd"]).token
        verifier.verify_access(token)
        old_kid = a.ring.signing.kid

        await a.rotate()
        await a._db.execute("DELETE FROM rowgate.signing_keys WHERE kid = $1", old_kid)
        await b_store.publish(CHANNEL, "changed")  # e.g. an operator removing a compromised key
        await eventually(lambda: b.ring.find(old_kid, 0) is None)
        with pytest.raises(InvalidToken):
            verifier.verify_access(token)
    finally:
        await stop(a, b)


async def test_a_missed_announcement_is_caught_up_by_the_periodic_refresh(
    migrated_database: str, box: SecretBox
) -> None:
    store = MemoryStore("test:")
    keys = await instance(migrated_database, box, store, refresh_interval=0.05)
    try:
        new_kid = await rotate_signing_key(keys._db, box, "EdDSA")  # nobody announces it
        await eventually(lambda: keys.ring.signing.kid == new_kid)
    finally:
        await stop(keys)


async def test_a_database_outage_during_a_reload_keeps_the_current_ring(
    migrated_database: str, box: SecretBox
) -> None:
    store = MemoryStore("test:")
    keys = await instance(migrated_database, box, store)
    try:
        ring = keys.ring
        await keys._db.close()
        await store.publish(CHANNEL, "changed")  # the reload fails: logged, current ring kept
        assert keys.ring is ring
    finally:
        await keys.close()
