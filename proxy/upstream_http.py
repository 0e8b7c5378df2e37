"""A lean HTTP/1.1 client for the upstream app: pooled keep-alive connections, streamed bodies.

Proxying is rowgate's hot path, and a general-purpose client (cookies, redirects, tracing,
per-request objects by the dozen) spends more CPU per request than the rest of rowgate together.
This client does only what a reverse proxy needs: write the request head and body (with
``Content-Length`` or chunked), parse the answer with ``httptools`` (llhttp, the parser Node.js
uses), and hand the body over chunk by chunk with back-pressure in both directions.

A connection goes back to the pool only after a complete response that allows keep-alive; idle
connections are closed after ``keepalive_timeout`` so that the upstream's own idle timeout does not
race us.  A request that fails on a reused connection before any answer arrived is retried once
on a fresh one when it is safe (its body is already in memory).
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from collections.abc import AsyncIterator, Sequence
from typing import cast
from urllib.parse import urlsplit

import httptools
from multidict import CIMultiDict

#: Pause reading from the upstream once this much body is waiting for the client.
HIGH_WATER = 256 * 1024


class UpstreamConnectionError(ConnectionError):
    """The upstream could not be reached, or it broke the exchange."""


class InvalidHeader(ValueError):
    """A header name or value that would break the request framing (CR, LF or NUL)."""


def _breaks_framing(text: str) -> bool:
    # Three substring scans (memchr) cost far less than one translate over a long token.
    return "\r" in text or "\n" in text or "\0" in text


class _Connection(asyncio.Protocol):
    """One TCP connection; parses one response at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()
        self.idle_since = time.monotonic()
        self.used = False
        self._response: UpstreamResponse | None = None
        self._parser: httptools.HttpResponseParser | None = None
        self._write_ready = asyncio.Event()
        self._write_ready.set()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._write_ready.set()
        if self._response is not None:
            self._response._fail(UpstreamConnectionError("the upstream closed the connection"))
        if not self.closed.done():
            self.closed.set_result(None)

    def pause_writing(self) -> None:
        self._write_ready.clear()

    def resume_writing(self) -> None:
        self._write_ready.set()

    def data_received(self, data: bytes) -> None:
        if self._parser is None:
            self.close()  # bytes nobody asked for: the connection cannot be trusted any more
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass
        except httptools.HttpParserError:
            if self._response is not None:
                self._response._fail(UpstreamConnectionError("the upstream sent invalid HTTP"))
            self.close()

    # one exchange

    def start(self, response: UpstreamResponse) -> None:
        self._response = response
        self._parser = httptools.HttpResponseParser(response)
        self.used = True

    def finish(self) -> None:
        self._response = None
        self._parser = None
        self.idle_since = time.monotonic()

    @property
    def reusable(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def send(self, data: bytes) -> bool:
        """Hand ``data`` to the transport; False when its buffer is full (wait for ``drained``)."""
        if self.transport is None or self.transport.is_closing():
            raise UpstreamConnectionError("the upstream closed the connection")
        self.transport.write(data)
        return self._write_ready.is_set()

    async def drained(self) -> None:
        await self._write_ready.wait()

    async def write(self, data: bytes) -> None:
        if not self.send(data):
            await self.drained()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class UpstreamResponse:
    """Status, headers and a body that arrives in chunks (httptools callbacks fill it)."""

    def __init__(self, connection: _Connection, head_only: bool) -> None:
        self.status = 0
        self.reason = ""
        self.headers: CIMultiDict[str] = CIMultiDict()
        self.keep_alive = False
        self._connection = connection
        self._head_only = head_only
        self._headers_done = asyncio.get_running_loop().create_future()
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._complete = False
        self._error: Exception | None = None
        self._wakeup: asyncio.Future[None] | None = None
        self._paused = False
        self._timer: asyncio.TimerHandle | None = None

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("Content-Length")
        return int(value) if value is not None and value.isascii() and value.isdigit() else None

    # httptools callbacks

    def on_status(self, status: bytes) -> None:
        self.reason += status.decode("latin-1")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.add(name.decode("latin-1"), value.decode("latin-1"))

    def on_headers_complete(self) -> None:
        parser = self._connection._parser
        if parser is None:
            return
        self.status = parser.get_status_code()
        if 100 <= self.status < 200 and self.status != 101:
            # An interim answer (100 Continue, 103 Early Hints): the real one follows.
            self.headers = CIMultiDict()
            self.reason = ""
            return
        self.keep_alive = parser.should_keep_alive()
        if not self._headers_done.done():
            self._headers_done.set_result(None)
            self.stop_waiting()
        if self._head_only:
            self.on_message_complete()

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > HIGH_WATER and not self._paused and self._connection.transport is not None:
            self._connection.transport.pause_reading()
            self._paused = True
        self._wake()

    def on_message_complete(self) -> None:
        if 100 <= self.status < 200 and self.status != 101:
            return  # the parser goes on to the final answer on the same connection
        self._complete = True
        self._connection._parser = None
        self._wake()

    # consumer side

    def _fail(self, error: Exception) -> None:
        if self._complete:
            return
        self._error = error
        if not self._headers_done.done():
            self._headers_done.set_exception(error)
            self.stop_waiting()
        self._wake()

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def wait_headers(self, read_timeout: float) -> asyncio.Future[None]:
        """Await it: until the response head is in; TimeoutError after ``read_timeout`` without
        it.  The future itself, with a bare timer (no per-request coroutine, Timeout or task
        cancel); whoever settles the future cancels the timer (``_settled``), and so does the
        caller that gives up waiting (``stop_waiting``)."""
        if not self._headers_done.done():
            self._timer = asyncio.get_running_loop().call_later(read_timeout, self._late)
        return self._headers_done

    def stop_waiting(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _late(self) -> None:
        self._timer = None
        if not self._headers_done.done():
            self._headers_done.set_exception(TimeoutError())

    async def next_chunk(self, read_timeout: float) -> bytes | None:
        """The next piece of the body as it arrives, None once it is complete; TimeoutError when
        the upstream stalls for ``read_timeout``.  (A loop, not an async generator: none is made
        per request, each of which costs the event loop's finalizer hook.)"""
        while True:
            if self._chunks:
                chunk = self._chunks.popleft()
                self._buffered -= len(chunk)
                if (
                    self._paused
                    and self._buffered <= HIGH_WATER // 2
                    and self._connection.transport is not None
                ):
                    self._connection.transport.resume_reading()
                    self._paused = False
                return chunk
            if self._complete:
                return None
            if self._error is not None:
                raise self._error
            self._wakeup = asyncio.get_running_loop().create_future()
            async with asyncio.timeout(read_timeout):
                await self._wakeup

    async def read(self, read_timeout: float) -> bytes:
        """The whole body (a small one: the caller knows its length)."""
        if self._complete and not self._paused:  # all in already (usual for a small body)
            waiting = self._chunks
            body = waiting.popleft() if len(waiting) == 1 else b"".join(waiting)
            waiting.clear()
            self._buffered = 0
            return body
        chunks = []
        while (chunk := await self.next_chunk(read_timeout)) is not None:
            chunks.append(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    @property
    def complete(self) -> bool:
        return self._complete


class _Slots:
    """At most ``size`` requests at once: a semaphore whose free slot is taken without a coroutine
    (``take``); only a request that finds none waits (``wait``), first come, first served, and a
    slot given back goes straight to the first waiter."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def take(self) -> bool:
        """Take a free slot if there is one and nobody is waiting for one."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return True
        return False

    async def wait(self) -> None:
        """Until a slot is handed over (``release``)."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot while being cancelled: on to the next
            elif waiter in self._waiters:  # (``release`` may have passed it over already)
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1


class UpstreamPool:
    """Keep-alive connections to one upstream origin."""

    def __init__(
        self,
        base_url: str,
        *,
        max_connections: int,
        connect_timeout: float,
        read_timeout: float,
        keepalive_timeout: float = 4.0,
    ) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.tls = parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        self.host_header = parts.netloc
        self.base_path = parts.path.rstrip("/")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.keepalive_timeout = keepalive_timeout
        self._idle: list[_Connection] = []
        self._slots = _Slots(max_connections)
        self._ssl = ssl.create_default_context() if self.tls else None

    async def request(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]],
        body: bytes | AsyncIterator[bytes] | None,
    ) -> UpstreamResponse:
        """Send one request; returns once the response head has arrived (the body streams later).

        The caller must ``release`` the response when it is done with it.
        """
        if not self._slots.take():
            await self._slots.wait()
        try:
            head = self._head(method, target, headers, body)
            connection = self._take_idle()
            try:
                return await self._exchange(connection or await self._connect(), method, head, body)
            except UpstreamConnectionError:
                if connection is None or not isinstance(body, bytes | None):
                    raise
                # The reused connection had gone stale: a fresh one, once.
                return await self._exchange(await self._connect(), method, head, body)
        except BaseException:
            self._slots.release()
            raise

    def release(self, response: UpstreamResponse) -> None:
        """Give the connection back (complete keep-alive answers) or close it."""
        connection = response._connection
        if response.complete and response.keep_alive and connection.reusable:
            connection.finish()
            self._idle.append(connection)
        else:
            connection.close()
        self._slots.release()

    async def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()

    def _take_idle(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if connection.reusable and now - connection.idle_since < self.keepalive_timeout:
                return connection
            connection.close()
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, connection = await loop.create_connection(
                    _Connection,
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self.tls else None,
                )
        except OSError as exc:
            raise UpstreamConnectionError(f"cannot connect to the upstream: {exc.strerror or exc}") from exc
        return connection

    def _head(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]],
        body: bytes | AsyncIterator[bytes] | None,
    ) -> bytes:
        lines = [f"{method} {self.base_path}{target} HTTP/1.1", f"Host: {self.host_header}"]
        lines += [f"{name}: {value}" for name, value in headers]
        # Only a body needs its framing said (a request without one sends neither header).
        if body is not None and not any(name.lower() == "content-length" for name, _ in headers):
            lines.append(
                f"Content-Length: {len(body)}" if isinstance(body, bytes) else "Transfer-Encoding: chunked"
            )
        # The lines without their separators hold no CR, LF or NUL, else some name or value does:
        # three memchr scans of one string, instead of three per header (or counting each character).
        if _breaks_framing("".join(lines)):
            for name, value in headers:
                if _breaks_framing(name) or _breaks_framing(value):
                    raise InvalidHeader(f"header {name!r} holds a line break or NUL")
            raise InvalidHeader("the request line holds a line break or NUL")
        lines += ("", "")  # the blank line that ends the head
        return "\r\n".join(lines).encode("latin-1")

    async def _exchange(
        self, connection: _Connection, method: str, head: bytes, body: bytes | AsyncIterator[bytes] | None
    ) -> UpstreamResponse:
        response = UpstreamResponse(connection, head_only=method == "HEAD")
        connection.start(response)
        try:
            if isinstance(body, bytes):
                if not connection.send(head + body):
                    await connection.drained()
            else:
                if not connection.send(head):
                    await connection.drained()
                if body is not None:
                    await _send_stream(connection, body, chunked=b"Transfer-Encoding: chunked" in head)
            await response.wait_headers(self.read_timeout)
        except BaseException:
            response.stop_waiting()
            connection.close()
            raise
        return response


async def _send_stream(connection: _Connection, body: AsyncIterator[bytes], *, chunked: bool) -> None:
    async for chunk in body:
        if not chunk:
            continue
        await connection.write(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
    if chunked:
        await connection.write(b"0\r\n\r\n")
