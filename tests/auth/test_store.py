"""The ephemeral store: both backends behave the same; Redis is shared between instances."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from auth.store import EphemeralStore, MemoryStore, RedisStore
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.integration


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, redis_prefix: str) -> AsyncIterator[EphemeralStore]:
    backend: EphemeralStore
    if request.param == "memory":
        backend = MemoryStore(redis_prefix)
    else:
        backend = await RedisStore.connect(REDIS_URL, redis_prefix)
    yield backend
    await backend.close()


async def test_incr_counts_and_expires(store: EphemeralStore) -> None:
    assert [await store.incr("hits", ttl=0.2) for _ in range(3)] == [1, 2, 3]
    remaining = await store.ttl("hits")
    assert remaining is not None
    assert 0 < remaining <= 0.2
    await asyncio.sleep(0.3)
    assert await store.get("hits") is None
    assert await store.incr("hits", ttl=10) == 1


async def test_set_get_delete_and_only_if_absent(store: EphemeralStore) -> None:
    assert await store.set("k", "v1") is True
    assert await store.set("k", "v2", only_if_absent=True) is False
    assert await store.get("k") == "v1"
    assert await store.ttl("k") is None
    assert await store.delete("k", "missing") == 1
    assert await store.get("k") is None
    assert await store.set("k", "v3", ttl=5, only_if_absent=True) is True


async def test_publish_reaches_subscribers_and_they_hear_reconnects(store: EphemeralStore) -> None:
    heard: list[str | None] = []
    got = asyncio.Event()

    async def handler(message: str | None) -> None:
        heard.append(message)
        if message is not None:
            got.set()

    await store.subscribe("news", handler)
    await store.publish("news", "hello")
    await asyncio.wait_for(got.wait(), 5)
    assert heard == [None, "hello"]


async def test_two_redis_clients_share_state(redis_prefix: str) -> None:
    first = await RedisStore.connect(REDIS_URL, redis_prefix)
    second = await RedisStore.connect(REDIS_URL, redis_prefix)
    try:
        await first.incr("fails", ttl=10)
        assert await second.incr("fails", ttl=10) == 2
    finally:
        await first.close()
        await second.close()


async def test_an_unreachable_redis_is_a_clear_error() -> None:
    from config.errors import ServiceUnavailable

    with pytest.raises(ServiceUnavailable, match="Redis"):
        await RedisStore.connect("redis://127.0.0.1:1/0", "x:")
