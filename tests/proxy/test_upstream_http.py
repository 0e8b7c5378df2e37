"""The upstream HTTP client against hand-written servers that misbehave in the ways real ones do."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from rowgate.proxy.upstream_http import InvalidHeader, UpstreamConnectionError, UpstreamPool, _Slots

Conversation = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def raw_server() -> AsyncIterator[Callable[[Conversation], Awaitable[str]]]:
    servers: list[asyncio.Server] = []

    async def start(conversation: Conversation) -> str:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await conversation(reader, writer)
            finally:
                writer.close()
                with contextlib.suppress(ConnectionError):
                    await writer.wait_closed()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


def pool(url: str, **kwargs: float) -> UpstreamPool:
    options = {"max_connections": 4, "connect_timeout": 2.0, "read_timeout": 2.0, **kwargs}
    return UpstreamPool(url, **options)  # type: ignore[arg-type]


async def fetch(p: UpstreamPool, method: str = "GET", body: bytes | None = None) -> tuple[int, bytes]:
    response = await p.request(method, "/x", [("Accept", "*/*")], body)
    try:
        return response.status, await response.read(2.0)
    finally:
        p.release(response)


async def test_keep_alive_reuses_one_connection(raw_server: Callable[[Conversation], Awaitable[str]]) -> None:
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while True:
            try:
                await read_request(reader)
            except asyncio.IncompleteReadError:
                return
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()

    p = pool(await raw_server(serve))
    for _ in range(5):
        assert await fetch(p) == (200, b"ok")
    await p.close()
    assert connections == 1


async def test_a_stale_keep_alive_connection_is_retried_once(
    raw_server: Callable[[Conversation], Awaitable[str]],
) -> None:
    """The server closes each connection after one answer (as an upstream's idle timeout would)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    p = pool(await raw_server(serve))
    assert await fetch(p) == (200, b"ok")
    await asyncio.sleep(0.05)
    assert await fetch(p) == (200, b"ok")
    await p.close()


async def test_chunked_answers_and_interim_100_continue(
    raw_server: Callable[[Conversation], Awaitable[str]],
) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        writer.write(b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n")
        writer.write(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        await writer.drain()

    p = pool(await raw_server(serve))
    response = await p.request("POST", "/x", [], b"body")
    try:
        assert response.status == 201
        assert response.headers["X-A"] == "1"
        assert await response.read(2.0) == b"hello world"
    finally:
        p.release(response)
    await p.close()


async def test_streamed_request_bodies_are_sent_chunked(
    raw_server: Callable[[Conversation], Awaitable[str]],
) -> None:
    received = asyncio.get_running_loop().create_future()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_request(reader)
        body = await reader.readuntil(b"0\r\n\r\n")
        received.set_result((head, body))
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()

    async def parts() -> AsyncIterator[bytes]:
        yield b"abc"
        yield b""
        yield b"defgh"

    p = pool(await raw_server(serve))
    response = await p.request("PUT", "/x", [], parts())
    try:
        assert response.status == 204
        assert await response.read(2.0) == b""
    finally:
        p.release(response)
    head, body = await received
    assert b"Transfer-Encoding: chunked" in head
    assert body == b"3\r\nabc\r\n5\r\ndefgh\r\n0\r\n\r\n"
    await p.close()


async def test_invalid_http_from_the_upstream_is_a_connection_error(
    raw_server: Callable[[Conversation], Awaitable[str]],
) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"NONSENSE\r\n\r\n")
        await writer.drain()

    p = pool(await raw_server(serve))
    with pytest.raises(UpstreamConnectionError, match="invalid HTTP"):
        await fetch(p)
    await p.close()


async def test_a_silent_upstream_times_out(raw_server: Callable[[Conversation], Awaitable[str]]) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(3)

    p = pool(await raw_server(serve), read_timeout=0.2)
    with pytest.raises(TimeoutError):
        await fetch(p)
    await p.close()


async def test_a_body_cut_short_is_an_error_not_a_short_answer(
    raw_server: Callable[[Conversation], Awaitable[str]],
) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-part")
        await writer.drain()
        writer.close()

    p = pool(await raw_server(serve))
    with pytest.raises(UpstreamConnectionError):
        await fetch(p)
    await p.close()


async def test_header_values_with_line_breaks_are_refused(
    raw_server: Callable[[Conversation], Awaitable[str]],
) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    p = pool(await raw_server(serve))
    with pytest.raises(InvalidHeader):
        await p.request("GET", "/x", [("X-Role", "admin\r\nX-Rowgate-User-Id: 1")], None)
    await p.close()


async def test_nothing_listening_is_a_connection_error() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    p = pool(f"http://127.0.0.1:{port}")
    with pytest.raises(UpstreamConnectionError, match="cannot connect"):
        await fetch(p)
    await p.close()


async def test_no_more_requests_at_once_than_max_connections(
    raw_server: Callable[[Conversation], Awaitable[str]],
) -> None:
    open_now = most = 0
    go_on = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal open_now, most
        while True:
            try:
                await read_request(reader)
            except asyncio.IncompleteReadError:
                return
            open_now += 1
            most = max(most, open_now)
            await go_on.wait()
            open_now -= 1
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()

    p = pool(await raw_server(serve), max_connections=2)
    fetches = [asyncio.create_task(fetch(p)) for _ in range(5)]
    await asyncio.sleep(0.2)
    assert (open_now, most) == (2, 2)
    go_on.set()
    assert await asyncio.gather(*fetches) == [(200, b"ok")] * 5
    assert most == 2
    await p.close()


async def test_a_request_cancelled_while_waiting_for_a_slot_leaves_no_slot_behind(
    raw_server: Callable[[Conversation], Awaitable[str]],
) -> None:
    go_on = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                await read_request(reader)
            except asyncio.IncompleteReadError:
                return
            await go_on.wait()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()

    p = pool(await raw_server(serve), max_connections=1)
    first = asyncio.create_task(fetch(p))
    await asyncio.sleep(0.1)
    waiting, after = asyncio.create_task(fetch(p)), asyncio.create_task(fetch(p))
    await asyncio.sleep(0.1)
    waiting.cancel()
    go_on.set()
    assert await first == (200, b"ok")
    assert await after == (200, b"ok")
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert await asyncio.wait_for(fetch(p), 2) == (200, b"ok")  # the one slot is free again
    await p.close()


async def test_a_slot_handed_to_a_waiter_being_cancelled_goes_on() -> None:
    slots = _Slots(1)
    assert slots.take()
    assert not slots.take()
    waiter = asyncio.create_task(slots.wait())
    await asyncio.sleep(0)
    slots.release()  # handed over to the waiter ...
    waiter.cancel()  # ... which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert slots.take()  # the slot was passed on, not lost
    assert not slots.take()
