"""argon2id hashing: parameters, NFKC, re-hash detection, dummy verification, off the event loop."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from rowgate.auth.passwords.hashing import PasswordHasher, default_threads
from rowgate.auth.telemetry import REGISTRY
from rowgate.config.identity import Argon2Settings
from rowgate.errors import ServiceUnavailable

FAST = Argon2Settings(memory_cost=64, time_cost=1, parallelism=1, threads=2)


@pytest.fixture
def hasher() -> Iterator[PasswordHasher]:
    hasher = PasswordHasher(FAST)
    yield hasher
    hasher.close()


async def test_production_defaults_are_owasp_argon2id() -> None:
    hasher = PasswordHasher(Argon2Settings())
    try:
        stored = await hasher.hash("Correct-Horse-9")
        assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        assert await hasher.verify(stored, "Correct-Horse-9")
        assert not await hasher.verify(stored, "correct-horse-9")
    finally:
        hasher.close()


async def test_nfkc_equal_passwords_verify(hasher: PasswordHasher) -> None:
    stored = await hasher.hash("\uff30assword-\u2460")  # fullwidth P and a circled 1
    assert await hasher.verify(stored, "Password-1")


async def test_long_passwords_are_not_truncated(hasher: PasswordHasher) -> None:
    stored = await hasher.hash("a" * 1000 + "X")
    assert not await hasher.verify(stored, "a" * 1000 + "Y")


async def test_hashes_made_with_other_parameters_need_a_rehash(hasher: PasswordHasher) -> None:
    other = PasswordHasher(Argon2Settings(memory_cost=128, time_cost=1, threads=1))
    try:
        assert hasher.needs_rehash(await other.hash("x"))
        assert not hasher.needs_rehash(await hasher.hash("x"))
        assert hasher.needs_rehash("not a hash")
    finally:
        other.close()


async def test_a_garbled_stored_hash_is_a_mismatch_not_a_crash(hasher: PasswordHasher) -> None:
    assert not await hasher.verify("$argon2id$v=19$m=64,t=1,p=1$garbage", "x")


async def test_dummy_verification_runs_argon2_and_is_counted(
    hasher: PasswordHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = hasher._verify
    monkeypatch.setattr(hasher, "_verify", lambda h, p: calls.append(h) or real(h, p))
    await hasher.verify_dummy("whatever")
    assert hasher.dummy_verifications == 1
    assert len(calls) == 1
    assert calls[0].startswith("$argon2id$")


class SpyArgon2:
    """Wraps argon2's hasher (which has read-only attributes) to run ``before`` each hash."""

    def __init__(self, real: Any, before: Callable[[], object]) -> None:
        self._real = real
        self._before = before

    def hash(self, password: str) -> str:
        self._before()
        return str(self._real.hash(password))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


async def test_hashing_runs_in_the_pool_not_on_the_event_loop(
    hasher: PasswordHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    spy = SpyArgon2(hasher._argon2, lambda: threads.append(threading.current_thread().name))
    monkeypatch.setattr(hasher, "_argon2", spy)
    await hasher.hash("x")
    assert threads
    assert threads[0].startswith("argon2")
    assert threads[0] != threading.main_thread().name


async def held_hash(hasher: PasswordHasher) -> tuple[threading.Event, asyncio.Future[str]]:
    """A hash that waits in the pool's thread until the returned event is set."""
    gate, started = threading.Event(), threading.Event()
    hasher._argon2 = SpyArgon2(hasher._argon2, lambda: started.set() or gate.wait(5))  # type: ignore[assignment]
    held = asyncio.ensure_future(hasher.hash("a"))
    async with asyncio.timeout(5):
        while not started.is_set() or hasher.capacity() > hasher.threads:
            await asyncio.sleep(0.005)
    return gate, held


def refused(flow: str) -> float:
    return REGISTRY.get_sample_value("rowgate_password_hashing_refused_total", {"flow": flow}) or 0.0


async def test_work_beyond_what_the_pool_finishes_within_max_wait_is_refused_with_503() -> None:
    hasher = PasswordHasher(
        Argon2Settings(memory_cost=64, time_cost=1, threads=1, max_wait=timedelta(milliseconds=10))
    )
    try:
        gate, held = await held_hash(hasher)  # running longer than max_wait: the pool is saturated
        counted = refused("signup")
        with pytest.raises(ServiceUnavailable) as caught, hasher.admission("signup"):
            pytest.fail("admitted into a saturated pool")
        assert caught.value.code == "busy"
        assert int(caught.value.headers["Retry-After"]) >= 1
        assert refused("signup") == counted + 1
        with pytest.raises(ServiceUnavailable):
            await hasher.hash("b")  # a caller without admission is admitted (or not) at the pool
        gate.set()
        await held
        assert await hasher.verify(await hasher.hash("c"), "c")  # places were given back
    finally:
        hasher.close()


async def test_admission_is_held_once_per_task() -> None:
    hasher = PasswordHasher(
        Argon2Settings(memory_cost=64, time_cost=1, threads=1, max_wait=timedelta(milliseconds=10))
    )
    try:
        gate, held = await held_hash(hasher)
        gate.set()
        await held
        hasher._hash_seconds = 60.0  # as if a hash took a minute: only the thread's own place is left
        assert hasher.capacity() == 1
        with hasher.admission("signin"):
            stored = await hasher.hash("x")  # within the admission: no second place needed
            assert await hasher.verify(stored, "x")
            with pytest.raises(ServiceUnavailable):  # another task needs a place of its own
                await asyncio.ensure_future(hasher.hash("y"))
    finally:
        hasher.close()


def test_capacity_is_what_the_threads_finish_within_max_wait() -> None:
    hasher = PasswordHasher(
        Argon2Settings(memory_cost=64, time_cost=1, threads=2, max_wait=timedelta(seconds=1))
    )
    try:
        hasher._hash_seconds = 0.1
        assert hasher.capacity() == 2 + 20
        hasher._hash_seconds = 0.5
        assert hasher.capacity() == 2 + 4
    finally:
        hasher.close()


def test_by_default_the_pool_leaves_the_event_loop_a_cpu() -> None:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    hasher = PasswordHasher(Argon2Settings(memory_cost=64, time_cost=1))
    try:
        assert hasher.threads == default_threads() == max(1, cpus - 1)
    finally:
        hasher.close()


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="per-thread scheduling classes are Linux-only")
@pytest.mark.parametrize(
    ("priority", "policy", "nice"), [("idle", "SCHED_IDLE", 10), ("low", "SCHED_OTHER", 10)]
)
async def test_hashing_threads_run_at_a_lower_priority(priority: str, policy: str, nice: int) -> None:
    hasher = PasswordHasher(Argon2Settings(memory_cost=64, time_cost=1, threads=1, priority=priority))  # type: ignore[arg-type]
    seen: list[tuple[int, int]] = []
    hasher._argon2 = SpyArgon2(  # type: ignore[assignment]
        hasher._argon2, lambda: seen.append((os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, 0)))
    )
    try:
        await hasher.hash("x")
    finally:
        hasher.close()
    assert seen == [(getattr(os, policy), nice)]
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # the event loop's thread is untouched


@pytest.mark.parametrize(
    ("workers", "cpus", "threads"),
    [(1, 1, 1), (1, 2, 1), (1, 8, 7), (2, 2, 1), (2, 8, 3), (8, 8, 1), (3, 2, 1)],
)
def test_workers_share_the_cpus_out_for_hashing(workers: int, cpus: int, threads: int) -> None:
    assert default_threads(workers, cpus) == threads
