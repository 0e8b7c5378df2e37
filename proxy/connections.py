"""Client connections: a deadline for each request's headers, a cap on slow connections per
client address, and client disconnects told apart from server errors.

A client that opens connections and sends its request line and headers a byte at a time
(slowloris) holds a connection, a parser and a task each, for ever if nobody stops it.  Every
connection here must deliver the complete headers of a request within ``server.header_timeout``
of opening (and, on a kept-alive connection, of the first byte of the next request); after that
it is answered 408 and closed.  A connection still without complete headers after ``SLOW_AFTER``
seconds counts as *slow* for its peer address, and a peer may hold at most
``server.max_slow_connections_per_ip`` of them: beyond, its new connections are answered 429 and
closed at once.  Trusted proxies (``server.trusted_proxies``) are exempt, since they carry many
clients' connections.

A client that goes away while its request is handled is not a server error: it is logged at
``info``, counted (``rowgate_client_disconnects_total``) and recorded with the status 499 (as
nginx does), never as a 5xx.
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from rowgate.config.schema import ServerSettings
from rowgate.errors import RequestTimeout, RowgateError, TooManyRequests
from rowgate.proxy.clientip import TrustedProxies
from rowgate.proxy.problem import problem, status_of

log = logging.getLogger("rowgate.connections")

#: Seconds without complete headers after which a connection counts as slow.
SLOW_AFTER = 1.0
#: The status recorded for a request whose client went away before the answer was sent.
CLIENT_CLOSED_REQUEST = 499


@dataclass
class ConnectionGuard:
    """Limits and counters shared by every connection of one server."""

    header_timeout: float
    max_slow_per_ip: int
    trusted: TrustedProxies
    slow: Counter[str] = field(default_factory=Counter)
    header_timeouts: int = 0
    refused: int = 0
    disconnects: int = 0

    @classmethod
    def from_settings(cls, settings: ServerSettings, trusted: TrustedProxies) -> ConnectionGuard:
        return cls(settings.header_timeout.total_seconds(), settings.max_slow_connections_per_ip, trusted)

    def admits(self, peer: str) -> bool:
        """True while ``peer`` may hold one more slow connection."""
        return self.slow[peer] < self.max_slow_per_ip or self.trusted.trusts(peer)


CONNECTIONS = web.AppKey("connections", ConnectionGuard)


def client_gone(request: web.BaseRequest, exc: BaseException) -> bool:
    """True when ``exc`` is the client's connection going away (not a failure of rowgate's)."""
    transport = request.transport
    return isinstance(exc, ConnectionError) and (transport is None or transport.is_closing())


def client_disconnected(request: web.Request) -> None:
    """Record that the client of ``request`` went away before its answer was sent."""
    guard = request.app.get(CONNECTIONS)
    if guard is not None:
        guard.disconnects += 1
    log.info("client disconnected before the answer was sent: %s %s", request.method, request.path)


def raw_problem(error: RowgateError) -> bytes:
    """A complete HTTP/1.1 answer for ``error`` that closes the connection (for when no request
    could be read, so no response object exists)."""
    status = status_of(error)
    body = json.dumps(problem(error), separators=(",", ":")).encode()
    head = [
        f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}",
        "Content-Type: application/problem+json",
        f"Content-Length: {len(body)}",
        "Cache-Control: no-store",
        "Connection: close",
        *(f"{name}: {value}" for name, value in error.headers.items()),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class GuardedRequestHandler(RequestHandler):
    """aiohttp's connection handler with the header deadline and the slow-connection cap."""

    guard: ConnectionGuard

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        self._peer: str = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
        self._deadline: asyncio.TimerHandle | None = None
        self._slow_mark: asyncio.TimerHandle | None = None
        self._slow = False
        if not self.guard.admits(self._peer):
            self._refuse()
        else:
            self._start_clock()

    def data_received(self, data: bytes) -> None:
        parsed = self._request_count
        super().data_received(data)
        if self._request_count != parsed:
            self._stop_clock()  # a request's headers are complete
        elif data and self._deadline is None and self._between_requests():
            self._start_clock()  # the first bytes of the next request on a kept-alive connection

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_clock()
        super().connection_lost(exc)

    def _between_requests(self) -> bool:
        return not (self._request_in_progress or self._messages or self._upgraded)

    def _start_clock(self) -> None:
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(self.guard.header_timeout, self._too_slow)
        self._slow_mark = loop.call_later(min(SLOW_AFTER, self.guard.header_timeout), self._mark_slow)

    def _stop_clock(self) -> None:
        for timer in (self._deadline, self._slow_mark):
            if timer is not None:
                timer.cancel()
        self._deadline = self._slow_mark = None
        if self._slow:
            self._slow = False
            self.guard.slow[self._peer] -= 1
            if self.guard.slow[self._peer] <= 0:
                del self.guard.slow[self._peer]

    def _mark_slow(self) -> None:
        self._slow_mark = None
        if not self.guard.admits(self._peer):
            self._refuse()
            return
        self._slow = True
        self.guard.slow[self._peer] += 1

    def _too_slow(self) -> None:
        self._deadline = None
        if not self._between_requests():
            return
        self.guard.header_timeouts += 1
        log.info("closed a connection from %s: no complete request headers in time", self._peer)
        self._answer_and_close(
            RequestTimeout("The request headers did not arrive in time.", code="request_timeout")
        )

    def _refuse(self) -> None:
        self.guard.refused += 1
        log.info("refused a connection from %s: too many slow connections from that address", self._peer)
        self._answer_and_close(
            TooManyRequests(
                "Too many connections from this address are sending their requests slowly.",
                retry_after=max(1, round(self.guard.header_timeout)),
                code="too_many_slow_connections",
            )
        )

    def _answer_and_close(self, error: RowgateError) -> None:
        self._stop_clock()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(raw_problem(error))
        self.force_close()
