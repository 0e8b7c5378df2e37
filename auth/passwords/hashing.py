"""Password hashing with argon2id, off the event loop.

A hash costs tens of milliseconds of CPU and 19 MiB of memory (OWASP's parameters), so it runs in
a small thread pool (argon2's C code releases the GIL) and never on the event loop: a burst of
sign-ins delays other sign-ins, not proxied traffic.  The pool's threads lower their own
scheduling priority (``auth.argon2.priority``; by default SCHED_IDLE on Linux), so that when the
CPUs are saturated the event loop, the upstream and the database are served first and sign-ins
wait.  Work waiting beyond ``max_queue`` is refused with 503 instead of piling up.

``verify_dummy`` runs a full verification against a hash of a random password: sign-in calls it
for unknown addresses so that they cost the same time as known ones.  ``dummy_verifications``
counts those calls, so tests can observe it without measuring time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from rowgate.auth.passwords.policy import normalize_password
from rowgate.config.identity import Argon2Settings, Priority
from rowgate.errors import ServiceUnavailable

log = logging.getLogger("rowgate.hashing")
T = TypeVar("T")

#: Nice value of the hashing threads at priority ``low`` (higher is lower priority).
HASHING_NICENESS = 10


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
        self._pool = ThreadPoolExecutor(
            max_workers=settings.threads,
            thread_name_prefix="argon2",
            initializer=thread_priority(settings.priority),
        )
        self._capacity = settings.threads + settings.max_queue
        self._pending = 0
        self._dummy = self._argon2.hash(secrets.token_urlsafe(16))
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

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(password_hash, password)
        except VerifyMismatchError:
            return False
        except (VerificationError, InvalidHashError):
            log.warning("a stored password hash could not be read; treating it as a mismatch")
            return False

    async def _run(self, func: Callable[..., T], *args: str) -> T:
        if self._pending >= self._capacity:
            raise ServiceUnavailable("Too many sign-ins at once; try again in a moment.", code="busy")
        self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, func, *args)
        finally:
            self._pending -= 1
