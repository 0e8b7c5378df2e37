"""WebSockets that follow their credentials: one that stops being accepted closes the socket.

A WebSocket outlives the request that opened it, so the check an HTTP request passes once has to
be asked again for as long as the socket is open.  ``SocketWatch`` keeps every WebSocket rowgate
relays with the Principal it was opened as, and ends it (close code 1008, policy violation, with
the reason) when:

* its session is revoked (signed out, password changed, removed from the organisation...):
  ``RevocationList`` calls back here as soon as it hears of a revocation, on every instance;
* its API key is revoked, expires or loses its creator: ``ApiKeyVerifier`` calls back on every
  announcement, and the key is checked again (without counting a use);
* its token or key reaches its expiry (``Principal.expires_at``): at that moment.

Besides, every ``interval`` seconds every socket is checked again, so that a change whose
announcement was lost still ends it (``api_keys.cache_ttl`` and the revocation catch-up bound it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from rowgate.auth.apikeys.verify import ApiKeyVerifier
from rowgate.auth.principal import Principal
from rowgate.auth.sessions.revocation import RevocationList
from rowgate.auth.tasks import cancel_and_wait
from rowgate.errors import InvalidCredentials, ServiceUnavailable

log = logging.getLogger("rowgate.sockets")

#: The close code of a socket whose credential is no longer accepted (RFC 6455: policy violation).
POLICY_VIOLATION = 1008


@dataclass(eq=False, slots=True)
class Watched:
    """One open WebSocket: who opened it, and the future that ends it with a close reason."""

    principal: Principal
    api_key: str | None
    ended: asyncio.Future[str] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def end(self, reason: str) -> None:
        if not self.ended.done():
            self.ended.set_result(reason)


class SocketWatch:
    """The open WebSockets of this instance, each ended when its credential stops being accepted."""

    def __init__(
        self,
        revocations: RevocationList,
        keys: ApiKeyVerifier,
        *,
        interval: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._revocations, self._keys = revocations, keys
        self._interval, self._clock = interval, clock
        self._open: set[Watched] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._revocations.listen(self._wake.set)
        self._keys.listen(self._wake.set)
        self._task = asyncio.create_task(self._watch_forever(), name="rowgate-sockets")

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    @contextlib.contextmanager
    def watching(self, principal: Principal, api_key: str | None) -> Iterator[Watched]:
        """Watch a WebSocket opened as ``principal`` (with the key ``api_key``) while it is open."""
        watched = Watched(principal, api_key)
        self._open.add(watched)
        self._wake.set()  # its expiry may be the next deadline
        try:
            yield watched
        finally:
            self._open.discard(watched)

    async def check(self) -> None:
        """End every socket whose credential is no longer accepted."""
        now = self._clock()
        for watched in [w for w in self._open if not w.ended.done()]:
            reason = await self._refusal(watched, now)
            if reason is not None:
                watched.end(reason)

    async def _refusal(self, watched: Watched, now: float) -> str | None:
        """Why ``watched``'s credential is no longer accepted; None while it is."""
        principal = watched.principal
        if principal.expires_at is not None and principal.expires_at <= now:
            return "credential expired"
        if principal.session_id is not None and self._revocations.is_revoked(principal.session_id):
            return "session revoked"
        if watched.api_key is None:
            return None
        try:
            await self._keys.check(watched.api_key)
        except InvalidCredentials as refused:
            return refused.code.replace("_", " ")  # api key revoked | expired | inactive
        except ServiceUnavailable:
            return None  # not known to be refused: the next round asks again
        return None

    def _next_wake(self) -> float:
        """Seconds until the next round: the interval, or sooner when a credential expires."""
        deadlines = [
            w.principal.expires_at
            for w in self._open
            if w.principal.expires_at is not None and not w.ended.done()
        ]
        soonest = min(deadlines, default=float("inf")) - self._clock()
        return max(0.0, min(self._interval, soonest))

    async def _watch_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._next_wake())
            self._wake.clear()
            try:
                await self.check()
            except Exception:
                log.exception("checking open WebSockets failed; the next round tries again")
