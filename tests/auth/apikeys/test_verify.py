"""The API-key cache without a database: what it remembers, what announcements make it forget,
and that a lookup racing with an announcement is never cached."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from rowgate.auth.apikeys.format import NewKey, generate
from rowgate.auth.apikeys.usage import UsageCounter
from rowgate.auth.apikeys.verify import ApiKeyVerifier
from rowgate.auth.rbac.catalog import RoleCatalog
from rowgate.auth.store import MemoryStore
from rowgate.config.tenancy import ApiKeySettings, RbacSettings
from rowgate.errors import InvalidCredentials
from rowgate.proxy.problem import problem

ORG = "4a1c2d7e-6a3b-4f8e-8b1a-2f9d7c5e3b10"
USER = "7c9e6679-7425-40de-944b-e07fc1f90ae7"


class StubDatabase:
    """Key rows by digest; counts lookups; ``gate`` (when set) holds each lookup until released."""

    def __init__(self) -> None:
        self.rows: dict[bytes, dict[str, Any]] = {}
        self.lookups = 0
        self.gate: asyncio.Event | None = None

    def add(self, key: NewKey, **overrides: Any) -> str:
        key_id = f"00000000-0000-0000-0000-{len(self.rows):012d}"
        self.rows[key.digest] = {
            "id": key_id,
            "org_id": ORG,
            "type": key.kind,
            "scopes": ["*"],
            "created_by": USER,
            "role": "admin",
            "usable_until": None,
            "revoked": False,
            "digest": key.digest,
            "rate_limit": None,
            "rate_window": None,
            **overrides,
        }
        return key_id

    async def fetchrow(self, query: str, digest: bytes) -> dict[str, Any] | None:
        self.lookups += 1
        row = self.rows.get(digest)
        snapshot = None if row is None else dict(row)  # what the database said when asked
        if self.gate is not None:
            await self.gate.wait()
        return snapshot

    async def execute(self, query: str, *args: Any) -> str:
        return "UPDATE 0"


@pytest.fixture(autouse=True)
def _quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="rowgate.store")


@pytest.fixture
async def parts() -> AsyncIterator[tuple[ApiKeyVerifier, StubDatabase, MemoryStore]]:
    db: Any = StubDatabase()
    store = MemoryStore()
    catalog = RoleCatalog(db, store, RbacSettings())
    verifier = ApiKeyVerifier(db, store, catalog, UsageCounter(db, 3600), ApiKeySettings())
    await verifier.start()
    yield verifier, db, store
    await store.close()


async def test_a_known_key_is_looked_up_once(parts: tuple[ApiKeyVerifier, StubDatabase, MemoryStore]) -> None:
    verifier, db, _ = parts
    key = generate("secret")
    db.add(key)
    for _ in range(5):
        assert (await verifier.authenticate(key.text)).org_id == ORG
    assert db.lookups == 1


async def test_an_unknown_key_is_remembered_until_a_key_is_created(
    parts: tuple[ApiKeyVerifier, StubDatabase, MemoryStore],
) -> None:
    verifier, db, _ = parts
    key = generate("secret")
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            await verifier.authenticate(key.text)
    assert db.lookups == 1  # a client hammering with a wrong key costs one query per interval
    db.add(key)
    await verifier.created(key.digest)
    assert (await verifier.authenticate(key.text)).org_id == ORG


async def test_garbage_never_reaches_the_database(
    parts: tuple[ApiKeyVerifier, StubDatabase, MemoryStore],
) -> None:
    verifier, db, _ = parts
    for text in ("x", "rg_sk_" + "A" * 46, generate("secret").text[:-1] + "!"):
        with pytest.raises(InvalidCredentials):
            await verifier.authenticate(text)
    assert db.lookups == 0


async def test_a_lookup_racing_with_a_revocation_is_not_cached(
    parts: tuple[ApiKeyVerifier, StubDatabase, MemoryStore],
) -> None:
    verifier, db, _ = parts
    key = generate("secret")
    key_id = db.add(key)
    db.gate = asyncio.Event()
    pending = asyncio.create_task(verifier.authenticate(key.text))
    while db.lookups == 0:  # the lookup reads the row as it was before the revocation...
        await asyncio.sleep(0)
    db.rows[key.digest]["revoked"] = True
    await verifier.forget(key_id)  # ...and the revocation is announced before it returns
    db.gate.set()
    assert (await pending).api_key_id == key_id  # the request that started first may pass
    db.gate = None
    with pytest.raises(InvalidCredentials) as caught:
        await verifier.authenticate(key.text)  # but nothing stale was kept
    assert caught.value.code == "api_key_revoked"


async def test_announcements_from_other_instances_and_reconnections_empty_the_cache(
    parts: tuple[ApiKeyVerifier, StubDatabase, MemoryStore],
) -> None:
    verifier, db, store = parts
    key = generate("secret")
    key_id = db.add(key)
    await verifier.authenticate(key.text)
    await store.publish("api-keys", f'{{"ids": ["{key_id}"]}}')  # another instance revoked it
    db.rows[key.digest]["revoked"] = True
    with pytest.raises(InvalidCredentials):
        await verifier.authenticate(key.text)
    other = generate("secret")
    db.add(other, role="member")
    await verifier.authenticate(other.text)
    lookups = db.lookups
    await store.publish("api-keys", "not json")  # ignored, with a warning
    await verifier.authenticate(other.text)
    assert db.lookups == lookups
    await verifier._on_message(None)  # reconnected: anything may have been missed
    await verifier.authenticate(other.text)
    assert db.lookups == lookups + 1


async def test_a_creator_change_rereads_only_their_keys(
    parts: tuple[ApiKeyVerifier, StubDatabase, MemoryStore],
) -> None:
    verifier, db, _ = parts
    mine, theirs = generate("secret"), generate("secret")
    db.add(mine)
    db.add(theirs, created_by="11111111-1111-1111-1111-111111111111")
    assert "admin" in (await verifier.authenticate(mine.text)).groups
    await verifier.authenticate(theirs.text)
    db.rows[mine.digest]["role"] = "viewer"
    await verifier.creator_changed(ORG, USER)
    principal = await verifier.authenticate(mine.text)
    assert principal.groups == {"user"}
    assert principal.permissions == {"*:read"}
    await verifier.authenticate(theirs.text)
    assert db.lookups == 3


async def test_the_key_never_appears_in_errors_or_logs(
    parts: tuple[ApiKeyVerifier, StubDatabase, MemoryStore], caplog: pytest.LogCaptureFixture
) -> None:
    verifier, db, _ = parts
    caplog.set_level(logging.DEBUG)
    key = generate("secret")
    db.add(key, revoked=True)
    for text in (key.text, generate("publishable").text, key.text[:-1] + "x"):
        with pytest.raises(InvalidCredentials) as caught:
            await verifier.authenticate(text)
        assert text not in str(problem(caught.value))
    assert key.text not in caplog.text
    assert key.text not in repr(key)
