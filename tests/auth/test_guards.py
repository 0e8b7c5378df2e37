"""Rate limits and growing lockouts on the ephemeral store, with both backends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from rowgate.auth.guards.lockout import Lockout
from rowgate.auth.guards.ratelimit import RateLimiter
from rowgate.auth.store import EphemeralStore, MemoryStore, RedisStore
from rowgate.config.identity import LockoutPolicy, RateLimit
from rowgate.errors import TooManyRequests
from tests.conftest import REDIS_URL

POLICY = LockoutPolicy(
    threshold=3, base_delay=timedelta(minutes=1), max_delay=timedelta(minutes=10), window=timedelta(days=1)
)


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, redis_prefix: str) -> AsyncIterator[EphemeralStore]:
    backend: EphemeralStore
    if request.param == "memory":
        backend = MemoryStore(redis_prefix)
    else:
        backend = await RedisStore.connect(REDIS_URL, redis_prefix)
    yield backend
    await backend.close()


def test_lockout_delay_doubles_from_the_threshold_up_to_the_cap() -> None:
    lockout = Lockout(MemoryStore(), "account", POLICY, code="account_locked")
    assert [lockout.delay(n) for n in range(1, 9)] == [0, 0, 60, 120, 240, 480, 600, 600]
    assert lockout.delay(10_000) == 600


async def test_rate_limit_refuses_beyond_the_limit_with_retry_after(store: EphemeralStore) -> None:
    limiter = RateLimiter(store, "signup", RateLimit(limit=2, window=timedelta(minutes=5)))
    await limiter.hit("1.2.3.4")
    await limiter.hit("1.2.3.4")
    with pytest.raises(TooManyRequests) as caught:
        await limiter.hit("1.2.3.4")
    assert 1 <= caught.value.retry_after <= 300
    assert caught.value.headers["Retry-After"] == str(caught.value.retry_after)
    await limiter.hit("5.6.7.8")  # other keys are counted apart


async def test_rate_limit_window_ends(store: EphemeralStore) -> None:
    limiter = RateLimiter(store, "resend", RateLimit(limit=1, window=timedelta(milliseconds=200)))
    assert await limiter.allow("k")
    assert not await limiter.allow("k")
    await asyncio.sleep(0.3)
    assert await limiter.allow("k")


async def test_account_is_locked_after_threshold_failures(store: EphemeralStore) -> None:
    lockout = Lockout(store, "account", POLICY, code="account_locked")
    assert await lockout.admit("alice") is None
    assert await lockout.admit("alice") is None
    locked = await lockout.admit("alice")  # the third attempt runs, and locks for what follows
    assert locked is not None
    assert locked.seconds == 60
    with pytest.raises(TooManyRequests) as caught:
        await lockout.admit("alice")
    assert caught.value.code == "account_locked"
    assert 55 <= caught.value.retry_after <= 60
    await lockout.admit("bob")  # other accounts are unaffected


async def test_success_clears_the_account(store: EphemeralStore) -> None:
    lockout = Lockout(store, "account", POLICY, code="account_locked")
    for _ in range(3):
        await lockout.admit("alice")
    await lockout.clear("alice")
    assert await lockout.admit("alice") is None


async def test_a_burst_of_concurrent_attempts_gets_only_threshold_through(store: EphemeralStore) -> None:
    lockout = Lockout(store, "account", POLICY, code="account_locked")
    results = await asyncio.gather(*(lockout.admit("alice") for _ in range(30)), return_exceptions=True)
    admitted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, TooManyRequests)]
    assert len(admitted) == POLICY.threshold
    assert len(refused) == 30 - POLICY.threshold


async def test_lock_expires_and_the_next_failure_locks_twice_as_long(store: EphemeralStore) -> None:
    short = LockoutPolicy(
        threshold=2,
        base_delay=timedelta(milliseconds=200),
        max_delay=timedelta(seconds=10),
        window=timedelta(minutes=1),
    )
    lockout = Lockout(store, "account", short, code="account_locked")
    await lockout.admit("alice")
    first = await lockout.admit("alice")
    assert first is not None
    assert first.seconds == pytest.approx(0.2)
    with pytest.raises(TooManyRequests):
        await lockout.check("alice")
    await asyncio.sleep(0.3)
    await lockout.check("alice")  # expired: no longer locked
    second = await lockout.admit("alice")
    assert second is not None
    assert second.seconds == pytest.approx(0.4)


async def test_ip_failures_are_counted_after_the_fact(store: EphemeralStore) -> None:
    lockout = Lockout(store, "ip", POLICY, code="too_many_failures")
    await lockout.check("1.2.3.4")
    assert await lockout.failed("1.2.3.4") is None
    assert await lockout.failed("1.2.3.4") is None
    assert await lockout.failed("1.2.3.4") is not None
    with pytest.raises(TooManyRequests) as caught:
        await lockout.check("1.2.3.4")
    assert caught.value.code == "too_many_failures"


async def test_redis_lockouts_are_shared_between_instances(redis_prefix: str) -> None:
    one = await RedisStore.connect(REDIS_URL, redis_prefix)
    two = await RedisStore.connect(REDIS_URL, redis_prefix)
    try:
        first, second = (Lockout(s, "account", POLICY, code="account_locked") for s in (one, two))
        await first.admit("alice")
        await second.admit("alice")
        await first.admit("alice")
        with pytest.raises(TooManyRequests):
            await second.admit("alice")
    finally:
        await one.close()
        await two.close()
