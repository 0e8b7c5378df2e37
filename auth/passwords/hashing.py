"""Password hashing with argon2id, off the event loop.

A hash costs tens of milliseconds of CPU and 19 MiB of memory (OWASP's parameters), so it runs in
a small thread pool (argon2's C code releases the GIL) and never on the event loop: a burst of
sign-ins delays other sign-ins, not proxied traffic.  The pool has one thread fewer than the CPUs
(at least one), and its threads lower their own scheduling priority (``auth.argon2.priority``; by
default SCHED_IDLE on Linux), so that when the CPUs are saturated the event loop, the upstream and
the database are served first and sign-ins wait.

Admission control: a flow that will hash enters ``admission`` before it looks anything up.  When
more work is admitted than the pool finishes within ``auth.argon2.max_wait`` (at the measured time
of a hash), it is refused at once with 503 ``busy`` and a ``Retry-After`` of the time the backlog
needs, counted in ``rowgate_password_hashing_refused_total``: a storm of sign-ins is answered
early instead of queueing for seconds and holding its requests open.  Entering is the same for
every address, known or not, so a refusal reveals nothing about accounts.

``verify_dummy`` runs a full verification against a hash of a random password: sign-in calls it
for unknown addresses so that they cost the same time as known ones.  ``dummy_verifications``
counts those calls, so tests can observe it without measuring time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from rowgate.auth import telemetry
from rowgate.auth.passwords.policy import normalize_password
from rowgate.config.identity import Argon2Settings, Priority
from rowgate.errors import ServiceUnavailable

log = logging.getLogger("rowgate.hashing")
T = TypeVar("T")

#: Nice value of the hashing threads at priority ``low`` (higher is lower priority).
HASHING_NICENESS = 10

#: Weight of the newest hash in the running mean of hash times.
SMOOTHING = 0.2

BUSY = "Too many password checks at once; try again in a moment."

#: The hasher whose admission is held, and by which task (a task started inside inherits the
#: context, not the place): admission is re-entrant within a task, never counted twice.
_holder: ContextVar[tuple[PasswordHasher, asyncio.Task[object] | None] | None] = ContextVar(
    "rowgate_argon2_admission", default=None
)


def default_threads(workers: int = 1, cpus: int | None = None) -> int:
    """Hashing threads for each of ``workers`` processes: the CPUs this process may use (or
    ``cpus``) less one per worker's event loop, shared out between the workers, at least one
    each.  One process on 8 CPUs: 7; 2 workers on 8: 3 each; 8 workers on 8: 1 each."""
    if cpus is None:
        try:
            cpus = len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            cpus = os.cpu_count() or 1
    return max(1, (cpus - workers) // workers)


def thread_priority(priority: Priority) -> Callable[[], None]:
    """A pool initializer that lowers the calling thread's scheduling priority (Linux: per thread).

    ``idle``: SCHED_IDLE, the thread runs only on CPU time nothing else wants; ``low``: nice 10;
    ``normal``: unchanged.  Where the OS refuses, the thread keeps its priority.
    """

    def lower() -> None:
        if priority == "normal":
            return
        tid = threading.get_native_id()
        with contextlib.suppress(AttributeError, OSError):
            os.setpriority(os.PRIO_PROCESS, tid, HASHING_NICENESS)
        if priority == "idle":
            with contextlib.suppress(AttributeError, OSError):
                os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))

    return lower


class PasswordHasher:
    """argon2id with parameters from config, computed in a bounded thread pool."""

    def __init__(self, settings: Argon2Settings) -> None:
        self._argon2 = argon2.PasswordHasher(
            time_cost=settings.time_cost,
            memory_cost=settings.memory_cost,
            parallelism=settings.parallelism,
            hash_len=32,
            salt_len=16,
            type=argon2.Type.ID,
        )
        self.threads = settings.threads or default_threads()
        self._pool = ThreadPoolExecutor(
            max_workers=self.threads,
            thread_name_prefix="argon2",
            initializer=thread_priority(settings.priority),
        )
        self._max_wait = settings.max_wait.total_seconds()
        if settings.max_queue is not None:
            log.warning(
                "auth.argon2.max_queue is no longer used and is ignored: how much hashing waits is "
                "now bounded by auth.argon2.max_wait (default 1s); remove max_queue from the config file"
            )
        self._admitted = 0
        self._started: dict[int, float] = {}  # running hashes: job number -> monotonic start
        self._started_lock = threading.Lock()  # the hashing threads write it, the event loop reads it
        self._jobs = itertools.count()  # next() is atomic: numbers stay distinct across threads
        started = time.monotonic()
        self._dummy = self._argon2.hash(secrets.token_urlsafe(16))
        self._hash_seconds = time.monotonic() - started
        self.dummy_verifications = 0

    async def hash(self, password: str) -> str:
        """The argon2id hash of ``password`` (NFKC-normalised first)."""
        return await self._run(self._argon2.hash, normalize_password(password))

    async def verify(self, password_hash: str, password: str) -> bool:
        """True when ``password`` matches ``password_hash``."""
        return await self._run(self._verify, password_hash, normalize_password(password))

    async def verify_dummy(self, password: str) -> None:
        """Spend the time a real verification takes, for an account that does not exist."""
        self.dummy_verifications += 1
        await self._run(self._verify, self._dummy, normalize_password(password))

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other parameters than the configured ones."""
        try:
            return self._argon2.check_needs_rehash(password_hash)
        except (InvalidHashError, ValueError):
            return True

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    @contextlib.contextmanager
    def admission(self, flow: str) -> Iterator[None]:
        """Hold a place in the hashing queue for the block, or raise 503 ``busy`` at once.

        ``flow`` (a fixed name: ``signin``, ``signup``, ...) labels the refusal counter.  A block
        inside one that is already admitted (a sign-in within an invitation's acceptance) takes no
        second place.
        """
        holder = (self, asyncio.current_task())
        if _holder.get() == holder:
            yield
            return
        if self._admitted >= self.capacity():
            telemetry.count_hashing_refused(flow)
            raise ServiceUnavailable(BUSY, code="busy", retry_after=self._backlog_seconds())
        self._admitted += 1
        token = _holder.set(holder)
        try:
            yield
        finally:
            _holder.reset(token)
            self._admitted -= 1

    def capacity(self) -> int:
        """How much work may be admitted: the threads' own, and what they finish within ``max_wait``."""
        return self.threads + int(self.threads * self._max_wait / self._service_seconds())

    def _service_seconds(self) -> float:
        """The time a hash takes now: the running mean, or longer while one has been running longer
        (the CPUs are taken by others and the idle-priority threads wait)."""
        with self._started_lock:
            oldest = min(self._started.values(), default=None)
        running = time.monotonic() - oldest if oldest is not None else 0.0
        return max(self._hash_seconds, running, 1e-6)

    def _backlog_seconds(self) -> int:
        """Whole seconds until the pool has finished what it holds (``Retry-After``), at least one."""
        return max(1, math.ceil(self._admitted / self.threads * self._service_seconds()))

    def _timed(self, func: Callable[..., T], *args: str) -> T:
        """Run ``func`` in a hashing thread, keeping the running mean of hash times."""
        job, started = next(self._jobs), time.monotonic()
        with self._started_lock:
            self._started[job] = started
        try:
            return func(*args)
        finally:
            with self._started_lock:
                del self._started[job]
            elapsed = time.monotonic() - started
            # Two threads finishing at once may lose one update: an estimate, not a count.
            self._hash_seconds += SMOOTHING * (elapsed - self._hash_seconds)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(password_hash, password)
        except VerifyMismatchError:
            return False
        except (VerificationError, InvalidHashError):
            log.warning("a stored password hash could not be read; treating it as a mismatch")
            return False

    async def _run(self, func: Callable[..., T], *args: str) -> T:
        with self.admission("other"):  # admitted already, unless a caller forgot to
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, self._timed, func, *args)
