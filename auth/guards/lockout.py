"""Growing lockouts after failed sign-ins, on the ephemeral store.

Two independent counters use this module: one per account (keyed by a digest of the normalised
email address, whether or not an account exists, so a lockout says nothing about existence) and
one per client IP.  After ``threshold`` failures the subject is locked for ``base_delay``; each
later failure locks it again for twice as long, up to ``max_delay``.  Failures are forgotten
``window`` after the first one, and an account's on a successful sign-in or password reset.

Accounts use ``admit``, which counts the attempt *before* the password is checked: concurrent
attempts on several instances each get their own number from one atomic ``INCR``, and the
attempt that reaches the threshold takes the lock with ``SET NX`` before it runs, so a burst
cannot get more than ``threshold`` guesses through (the others are answered 429 at once).  A
success then clears the count.  Client IPs use ``check`` before and ``failed`` after, so that an
attacker's successful sign-ins into their own account do not wipe their IP's failures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rowgate.auth.store import EphemeralStore
from rowgate.config.identity import LockoutPolicy
from rowgate.errors import TooManyRequests


@dataclass(frozen=True, slots=True)
class Locked:
    """A lock was set: for how long (seconds) and after how many failures."""

    seconds: float
    failures: int


class Lockout:
    """Failure counts and locks for one kind of subject (``account`` or ``ip``)."""

    def __init__(self, store: EphemeralStore, kind: str, policy: LockoutPolicy, code: str) -> None:
        self._store = store
        self._fails = f"lock:{kind}:fails:"
        self._lock = f"lock:{kind}:until:"
        self._policy = policy
        self._code = code

    def delay(self, failures: int) -> float:
        """Seconds of lock after ``failures`` failures (0 below the threshold)."""
        over = failures - self._policy.threshold
        if over < 0:
            return 0.0
        base = self._policy.base_delay.total_seconds()
        cap = self._policy.max_delay.total_seconds()
        return cap if over >= 64 else min(cap, base * 2**over)

    async def check(self, subject: str) -> None:
        """429 while ``subject`` is locked."""
        remaining = await self._store.ttl(self._lock + subject)
        if remaining:
            raise self._refusal(remaining)

    async def admit(self, subject: str) -> Locked | None:
        """Count an attempt before it runs; 429 when locked.  Returns the lock this attempt set."""
        await self.check(subject)
        failures = await self._store.incr(self._fails + subject, self._policy.window.total_seconds())
        seconds = self.delay(failures)
        if not seconds:
            return None
        if not await self._store.set(self._lock + subject, str(failures), ttl=seconds, only_if_absent=True):
            raise self._refusal(await self._store.ttl(self._lock + subject) or seconds)
        return Locked(seconds, failures)

    async def failed(self, subject: str) -> Locked | None:
        """Count a failure that already happened; returns the lock it set, if any."""
        failures = await self._store.incr(self._fails + subject, self._policy.window.total_seconds())
        seconds = self.delay(failures)
        if not seconds:
            return None
        await self._store.set(self._lock + subject, str(failures), ttl=seconds)
        return Locked(seconds, failures)

    async def clear(self, subject: str) -> None:
        """Forget ``subject``'s failures and lift its lock."""
        await self._store.delete(self._fails + subject, self._lock + subject)

    def _refusal(self, remaining: float) -> TooManyRequests:
        return TooManyRequests(
            "Too many failed sign-in attempts; wait before trying again, or reset your password.",
            retry_after=math.ceil(remaining),
            code=self._code,
        )
