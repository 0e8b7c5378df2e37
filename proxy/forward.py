"""Forwarding to the upstream app: HTTP with streamed bodies both ways, and WebSocket pass-through.

The pipeline (``proxy.pipeline``) hands over the request, its canonical path and the headers to
send (``Forwarder.outgoing_headers``: the client's end-to-end headers, scrubbed and mutated, with
the proxy headers added, in one pass); the forwarder relays.
Bodies are never buffered whole: the request body is streamed to the upstream as it arrives and
the response is streamed back chunk by chunk.  Hop-by-hop headers are dropped in both directions,
``X-Forwarded-*`` are set, and one pooled keep-alive client session serves every request.
Connection failures become 502 and timeouts 504 problem responses (before the response starts;
after that the connection is cut, as any proxy must).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from rowgate.auth.principal import Principal
from rowgate.config.schema import UpstreamSettings
from rowgate.errors import BadRequest, PayloadTooLarge, UpstreamError, UpstreamTimeout
from rowgate.proxy.appkeys import REQUEST_ID
from rowgate.proxy.clientip import TrustedProxies
from rowgate.proxy.connections import client_gone
from rowgate.proxy.expect import send_continue
from rowgate.proxy.mutate import IDENTITY_PREFIX, IdentityHeaders, stopped
from rowgate.proxy.paths import upstream_path
from rowgate.proxy.sockets import POLICY_VIOLATION
from rowgate.proxy.upstream_http import (
    InvalidHeader,
    UpstreamConnectionError,
    UpstreamPool,
    UpstreamResponse,
)

log = logging.getLogger("rowgate.forward")

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
    }
)
CHUNK = 64 * 1024
#: Responses up to this size (with a Content-Length) are relayed in one piece.
SMALL_BODY = 64 * 1024
#: Set by ``web.Response`` from the body it is given.
_BODY_SET = frozenset({"content-length"})


#: Set by the forwarder itself (``outgoing_headers``) whatever the client sent ...
_REPLACED = frozenset({"x-forwarded-for", "x-request-id"})
#: ... and these too unless the client is a trusted proxy (whose values pass on).
_REPLACED_UNTRUSTED = _REPLACED | {"x-forwarded-proto", "x-forwarded-host"}
_SOCKET_HANDSHAKE = (
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Extensions",
    "Sec-WebSocket-Protocol",
)


def _dropped(headers: CIMultiDictProxy[str] | CIMultiDict[str], drop: frozenset[str]) -> frozenset[str]:
    """``drop``, and the hop-by-hop headers ``headers`` names in ``Connection``."""
    if "Connection" not in headers:
        return drop
    return _with_named(drop, tuple(headers.getall("Connection")))


@functools.lru_cache(maxsize=256)
def _with_named(drop: frozenset[str], connection: tuple[str, ...]) -> frozenset[str]:
    """``drop`` and the names listed in ``Connection`` (the same few values on every answer of an
    upstream, ``keep-alive`` mostly: worked out once each, a bounded number kept)."""
    return drop | {t.strip().lower() for v in connection for t in v.split(",")}


#: What of an upstream answer's head is not relayed, streamed or (the body's length set by the
#: response itself) in one piece.
_NOT_RELAYED = HOP_BY_HOP
_NOT_RELAYED_SMALL = HOP_BY_HOP | _BODY_SET


def _end_to_end_items(
    headers: CIMultiDictProxy[str] | CIMultiDict[str], not_relayed: frozenset[str]
) -> list[tuple[str, str]]:
    """The end-to-end headers (not those in ``not_relayed``, nor those ``Connection`` names) as
    pairs: copied once by their taker."""
    drop = _dropped(headers, not_relayed)
    return [(k, v) for k, v in headers.items() if k.lower() not in drop]


class Forwarder:
    """A pooled client session to one upstream base URL."""

    def __init__(self, settings: UpstreamSettings, trusted: TrustedProxies) -> None:
        if settings.url is None:
            raise ValueError("Forwarder needs upstream.url")
        self.base = settings.url
        self.settings = settings
        self.trusted = trusted
        self._pool: UpstreamPool | None = None
        self._session: aiohttp.ClientSession | None = None
        #: What never passes, by whether the client is a trusted proxy (lower-case names).
        self._drop = {
            True: HOP_BY_HOP | trusted.scrubbed(True) | _REPLACED,
            False: HOP_BY_HOP | trusted.scrubbed(False) | _REPLACED_UNTRUSTED,
        }
        self._drops: dict[tuple[bool, frozenset[str]], frozenset[str]] = {}
        self._identity = IdentityHeaders()

    async def start(self) -> None:
        settings = self.settings
        self._pool = UpstreamPool(
            self.base,
            max_connections=settings.max_connections,
            connect_timeout=settings.connect_timeout.total_seconds(),
            read_timeout=settings.read_timeout.total_seconds(),
            keepalive_timeout=settings.keepalive_timeout.total_seconds(),
        )
        # WebSockets only (the HTTP hot path uses the lean pool above).
        self._session = aiohttp.ClientSession(
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=None, connect=settings.connect_timeout.total_seconds()),
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
        if self._session is not None:
            await self._session.close()

    @property
    def pool(self) -> UpstreamPool:
        if self._pool is None:
            raise RuntimeError("Forwarder.start() was not called")
        return self._pool

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("Forwarder.start() was not called")
        return self._session

    def outgoing_headers(
        self, request: web.Request, principal: Principal, *, keep_bearer: bool = False
    ) -> list[tuple[str, str]]:
        """What the upstream is sent, in one pass over the client's headers: the end-to-end ones,
        without the override headers and (from untrusted clients) the proxy headers
        (``TrustedProxies.scrubbed``), without client-sent identity headers and the credentials
        that stop here (``proxy.mutate``); then the identity headers, ``X-Forwarded-*`` and
        ``X-Request-Id``."""
        incoming = request.headers
        peer = request.remote or ""
        trusted = self.trusted.trusts(peer)
        stops = stopped(incoming, keep_bearer=keep_bearer)
        drop = self._drops.get((trusted, stops))
        if drop is None:  # one of four sets, each made once
            drop = self._drops[trusted, stops] = self._drop[trusted] | stops
        drop = _dropped(incoming, drop)
        headers = [
            (name, value)
            for name, value in incoming.items()
            if (lower := name.lower()) not in drop and not lower.startswith(IDENTITY_PREFIX)
        ]
        headers.extend(self._identity(principal))
        forwarded_for = incoming.get("X-Forwarded-For") if trusted else None
        headers.append(("X-Forwarded-For", f"{forwarded_for}, {peer}" if forwarded_for else peer))
        if not trusted or "X-Forwarded-Proto" not in incoming:
            headers.append(("X-Forwarded-Proto", request.scheme))
        if not trusted or "X-Forwarded-Host" not in incoming:
            headers.append(("X-Forwarded-Host", request.host))
        headers.append(("X-Request-Id", request[REQUEST_ID]))
        return headers

    async def forward(
        self,
        request: web.Request,
        headers: list[tuple[str, str]],
        path: str,
        *,
        body: bytes | None = None,
        query: str | None = None,
    ) -> web.StreamResponse:
        """Send ``request`` upstream to ``path`` (canonical: ``proxy.paths``) with ``headers``
        (``outgoing_headers``), optionally with a replaced body or query, and stream the answer."""
        target = upstream_path(path) + _query(request, query)
        stream = None
        data: bytes | AsyncIterator[bytes] | None = None
        if body is not None:
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            data = body
        elif request.body_exists:
            limit = self.settings.max_body_size
            if request.content_length is not None and request.content_length > limit:
                raise PayloadTooLarge(f"The body is larger than {limit} bytes.")
            await send_continue(request)
            stream = _BodyStream(request, limit)
            data = stream.__aiter__()
        try:
            upstream = await self.pool.request(request.method, target, headers, data)
        except InvalidHeader as exc:
            raise BadRequest("A header value holds a line break.", code="invalid_header") from exc
        except Exception as exc:
            if client_gone(request, exc):
                raise  # the client went away while its body was streamed: not the upstream's fault
            raise _upstream_error(exc, stream) from exc
        try:
            return await self._relay(request, upstream)
        finally:  # the connection back to the pool (or closed), whatever happens
            self.pool.release(upstream)

    async def _relay(self, request: web.Request, upstream: UpstreamResponse) -> web.StreamResponse:
        read_timeout = self.settings.read_timeout.total_seconds()
        length = upstream.content_length
        if length is not None and length <= SMALL_BODY and request.method != "HEAD":
            # A small body of known size: one write for headers and body (no streaming to gain).
            try:
                body = await upstream.read(read_timeout)
            except (TimeoutError, UpstreamConnectionError) as exc:
                raise _upstream_error(exc, None) from exc
            headers = _end_to_end_items(upstream.headers, _NOT_RELAYED_SMALL)
            return web.Response(status=upstream.status, reason=upstream.reason, body=body, headers=headers)
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        response.headers.extend(_end_to_end_items(upstream.headers, _NOT_RELAYED))
        response.headers.setdefault("Server", "rowgate")
        response.headers["X-Request-Id"] = request[REQUEST_ID]
        await response.prepare(request)
        try:
            while (chunk := await upstream.next_chunk(read_timeout)) is not None:
                await response.write(chunk)
        except (TimeoutError, UpstreamConnectionError) as exc:
            # The status line is gone already: cut the connection so the client sees a broken body.
            log.warning("upstream response interrupted: %s", type(exc).__name__)
            if request.transport is not None:
                request.transport.close()
            return response
        await response.write_eof()
        return response

    async def forward_websocket(
        self,
        request: web.Request,
        outgoing: list[tuple[str, str]],
        path: str,
        ended: asyncio.Future[str],
    ) -> web.StreamResponse:
        """Open the upstream WebSocket first, then accept the client's, and pump both ways until
        either side closes (its close code and reason passed on to the other) or ``ended`` gives
        the reason rowgate closes both (1008: the credential is no longer accepted)."""
        headers = CIMultiDict(outgoing)
        for name in _SOCKET_HANDSHAKE:
            headers.popall(name, None)
        protocols = [
            p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()
        ]
        target = URL(
            self.base.replace("http", "ws", 1) + upstream_path(path) + _query(request, None),
            encoded=True,
        )
        refused = self.settings.websocket_max_message + 1  # aiohttp refuses messages this size and up
        try:
            upstream = await self.session.ws_connect(
                target, headers=headers, protocols=protocols, autoclose=False, max_msg_size=refused
            )
        except TimeoutError as exc:
            raise UpstreamTimeout("The upstream app did not accept the WebSocket in time.") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise UpstreamError("The upstream app refused the WebSocket.") from exc
        client = web.WebSocketResponse(
            protocols=[upstream.protocol] if upstream.protocol else (),
            autoclose=False,
            max_msg_size=refused,
        )
        await client.prepare(request)
        async with upstream:
            await _pump_both(client, upstream, ended)
        return client


WebSocket = web.WebSocketResponse | aiohttp.ClientWebSocketResponse

#: Close codes that must never be sent (RFC 6455 7.4.1): they only describe a close.
_UNSENDABLE = frozenset({1005, 1006, 1015})


async def _pump_both(
    client: web.WebSocketResponse, upstream: aiohttp.ClientWebSocketResponse, ended: asyncio.Future[str]
) -> None:
    pumps = [asyncio.create_task(_pump(client, upstream)), asyncio.create_task(_pump(upstream, client))]
    waiting: list[asyncio.Future[Any]] = [*pumps, ended]
    await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    if ended.done():
        reason = ended.result().encode()
        closing = (side.close(code=POLICY_VIOLATION, message=reason) for side in (client, upstream))
        await asyncio.gather(*closing)
    for task in pumps:
        task.cancel()
    for task in pumps:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    for side in (client, upstream):
        if not side.closed:  # answers the close it received with the same code, or ends it
            await side.close(code=_sendable(side.close_code))


async def _pump(source: WebSocket, sink: WebSocket) -> None:
    """Relay ``source``'s messages to ``sink`` until it closes; its close code and reason are
    passed on (and a message over the size limit closes both with 1009)."""
    while True:
        message = await source.receive()
        if message.type == aiohttp.WSMsgType.TEXT:
            await sink.send_str(message.data)
        elif message.type == aiohttp.WSMsgType.BINARY:
            await sink.send_bytes(message.data)
        elif message.type == aiohttp.WSMsgType.CLOSE:
            await sink.close(code=_sendable(message.data), message=(message.extra or "").encode())
            return
        elif message.type == aiohttp.WSMsgType.ERROR:  # source closed itself (1009: too big)
            await sink.close(code=_sendable(source.close_code))
            return
        else:  # CLOSING, CLOSED: the other pump, or rowgate, is closing both
            return


def _sendable(code: int | None) -> int:
    return 1000 if not code or code in _UNSENDABLE else code


def _upstream_error(exc: BaseException, stream: _BodyStream | None) -> BaseException:
    """The rowgate error for a failed upstream request (the body limit wins over what it caused)."""
    if isinstance(exc, PayloadTooLarge) or (stream is not None and stream.exceeded):
        return PayloadTooLarge(f"The body is larger than {stream.limit if stream else 0} bytes.")
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout("The upstream app did not answer in time.")
    if isinstance(exc, aiohttp.ClientError | OSError):
        log.warning("upstream request failed: %s", type(exc).__name__)
        return UpstreamError("The upstream app is not reachable.")
    return exc


def _query(request: web.Request, replaced: str | None) -> str:
    query = request.rel_url.raw_query_string if replaced is None else replaced
    return f"?{query}" if query else ""


class _BodyStream:
    """The request body as it arrives; stops (and remembers why) once it passes ``limit`` bytes."""

    def __init__(self, request: web.Request, limit: int) -> None:
        self.request = request
        self.limit = limit
        self.exceeded = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self.request.content.iter_chunked(CHUNK):
            seen += len(chunk)
            if seen > self.limit:
                self.exceeded = True
                raise PayloadTooLarge(f"The body is larger than {self.limit} bytes.")
            yield chunk
