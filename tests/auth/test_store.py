"""The ephemeral store: both backends behave the same; Redis is shared between instances."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from rowgate.auth.store import EphemeralStore, MemoryStore, RedisStore
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
    from rowgate.errors import ServiceUnavailable

    with pytest.raises(ServiceUnavailable, match="Redis"):
        await RedisStore.connect("redis://127.0.0.1:1/0", "x:")


async def test_throttle_is_a_token_bucket(store: EphemeralStore) -> None:
    verdicts = [await store.throttle("bucket", limit=3, window=60) for _ in range(4)]

    assert [(v.allowed, v.remaining) for v in verdicts] == [(True, 2), (True, 1), (True, 0), (False, 0)]
    assert 19 < verdicts[2].wait <= 20  # one request more every 20 seconds
    assert 19 < verdicts[3].wait <= 20  # the refused one may come back then
    other = await store.throttle("another", limit=3, window=60)
    assert (other.allowed, other.remaining) == (True, 2)  # buckets are separate


async def test_throttle_refills_evenly_over_the_window(store: EphemeralStore) -> None:
    for _ in range(5):
        await store.throttle("fast", limit=5, window=1)
    assert not (await store.throttle("fast", limit=5, window=1)).allowed
    await asyncio.sleep(0.25)  # a fifth of the window (or a little more): one request back
    assert (await store.throttle("fast", limit=5, window=1)).allowed
    await asyncio.sleep(1.05)  # the whole window: full again
    assert (await store.throttle("fast", limit=5, window=1)).remaining == 4


async def test_concurrent_requests_never_overdraw_a_bucket(store: EphemeralStore) -> None:
    verdicts = await asyncio.gather(*(store.throttle("busy", limit=10, window=60) for _ in range(50)))

    assert sum(v.allowed for v in verdicts) == 10
    assert sorted(v.remaining for v in verdicts if v.allowed) == list(range(10))


async def test_buckets_checked_together_answer_each_in_turn(store: EphemeralStore) -> None:
    # Checked in one event-loop turn (with Redis: one command for all), each request hears of its
    # own bucket, of its own size, in the order they came.
    asks = [("small", 2, 60), ("large", 100, 60), ("small", 2, 60), ("small", 2, 60), ("large", 100, 60)]
    verdicts = await asyncio.gather(*(store.throttle(key, limit=n, window=w) for key, n, w in asks))

    answers = [(v.allowed, v.remaining) for v in verdicts]
    assert answers == [(True, 1), (True, 99), (True, 0), (False, 0), (True, 98)]
    assert 29 < verdicts[3].wait <= 30  # the small bucket's interval, not the large one's


async def test_two_redis_clients_share_one_bucket(redis_prefix: str) -> None:
    one = await RedisStore.connect(REDIS_URL, redis_prefix)
    two = await RedisStore.connect(REDIS_URL, redis_prefix)
    try:
        allowed = [
            (await s.throttle("shared", limit=4, window=60)).allowed for s in (one, two, one, two, one)
        ]
    finally:
        await one.close()
        await two.close()
    assert allowed == [True, True, True, True, False]
