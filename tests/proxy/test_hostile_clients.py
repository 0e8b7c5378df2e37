"""Hostile and careless clients over raw sockets: headers sent a byte at a time are cut off (408),
one address cannot hold more than a few such connections (429), other clients are served all the
while, and a client that hangs up mid-answer is a disconnect, not a server error."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
import pytest
from aiohttp import web

from rowgate.proxy.demo import build_demo_app
from tests.conftest import RunningServer, SettingsFactory
from tests.proxy.authkit import Start, StartApp

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROUTES = {"routes.default": "deny", "routes.rules": [{"path": "/public/**", "level": "public"}]}
REQUEST = b"GET /public/hello HTTP/1.1\r\nHost: rowgate.test\r\nUser-Agent: slow\r\nAccept: */*\r\n\r\n"


@pytest.fixture
async def proxy(make_settings: SettingsFactory, start_rowgate: Start, start_app: StartApp) -> RunningServer:
    upstream = await start_app(build_demo_app())
    settings = make_settings(
        **ROUTES,
        **{"upstream.url": upstream, "server.header_timeout": "2s", "server.max_slow_connections_per_ip": 5},
    )
    return await start_rowgate(settings)


def _address(server: RunningServer) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").split(":")
    return host, int(port)


async def _trickle(server: RunningServer, request: bytes, *, source: str = "127.0.0.1") -> tuple[bytes, int]:
    """Send ``request`` one byte a second until the server answers and closes; what it answered
    and how many bytes had been sent by then."""
    reader, writer = await asyncio.open_connection(*_address(server), local_addr=(source, 0))
    answer = asyncio.create_task(reader.read())
    sent = 0
    with contextlib.suppress(ConnectionError):
        for byte in request:
            if answer.done():
                break
            writer.write(bytes([byte]))
            await writer.drain()
            sent += 1
            await asyncio.wait([answer], timeout=1)
    raw = await asyncio.wait_for(answer, 30)
    writer.close()
    return raw, sent


def _status(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1]) if raw else 0


async def _metric(http: aiohttp.ClientSession, server: RunningServer, name: str) -> float:
    async with http.get(f"{server.url}/metrics") as response:
        text = await response.text()
    return next(float(line.split()[1]) for line in text.splitlines() if line.startswith(name + " "))


async def test_headers_sent_a_byte_a_second_are_cut_off(
    proxy: RunningServer, http: aiohttp.ClientSession
) -> None:
    raw, sent = await _trickle(proxy, REQUEST)
    assert _status(raw) == 408
    assert b'"request_timeout"' in raw
    assert sent < len(REQUEST)
    assert await _metric(http, proxy, "rowgate_header_timeouts_total") == 1


async def test_the_next_request_on_a_kept_alive_connection_has_the_same_deadline(
    proxy: RunningServer,
) -> None:
    reader, writer = await asyncio.open_connection(*_address(proxy))
    writer.write(REQUEST)
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    length = next(
        int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")
    )
    await reader.readexactly(length)
    writer.write(REQUEST[:10])  # the next request starts, then stalls
    raw = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    assert _status(raw) == 408


async def test_one_address_cannot_hold_many_slow_connections_and_others_are_served(
    proxy: RunningServer, http: aiohttp.ClientSession
) -> None:
    trickles = [asyncio.create_task(_trickle(proxy, REQUEST)) for _ in range(12)]
    await asyncio.sleep(2.5)  # every connection has been slow for a while now
    # Another address is served as usual meanwhile.
    raw = await asyncio.wait_for(_send_whole(proxy, REQUEST, source="127.0.0.2"), 10)
    assert _status(raw) == 200
    answers = [_status(raw) for raw, _ in await asyncio.gather(*trickles)]
    assert sorted(answers) == [408] * 5 + [429] * 7
    assert await _metric(http, proxy, "rowgate_slow_connections_refused_total") == 7
    assert await _metric(http, proxy, "rowgate_slow_connections") == 0


async def _send_whole(server: RunningServer, request: bytes, *, source: str) -> bytes:
    reader, writer = await asyncio.open_connection(*_address(server), local_addr=(source, 0))
    writer.write(request.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
    raw = await reader.read()
    writer.close()
    return raw


async def _server_errors(http: aiohttp.ClientSession, proxy: RunningServer) -> float:
    """Requests answered with a 5xx so far, as /metrics counts them."""
    async with http.get(f"{proxy.url}/metrics") as response:
        lines = (await response.text()).splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if 'status="5xx"' in line)


async def test_a_client_that_hangs_up_mid_answer_is_a_disconnect_not_a_server_error(
    make_settings: SettingsFactory,
    start_rowgate: Start,
    start_app: StartApp,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            while True:
                await response.write(b"x" * 65536)
                await asyncio.sleep(0.01)
        return response

    app = web.Application()
    app.router.add_get("/public/endless", endless)
    proxy = await start_rowgate(make_settings(**ROUTES, **{"upstream.url": await start_app(app)}))
    caplog.set_level(logging.INFO, logger="rowgate")
    before = await _server_errors(http, proxy)  # the counters live as long as the process
    for _ in range(3):
        reader, writer = await asyncio.open_connection(*_address(proxy))
        writer.write(REQUEST.replace(b"/public/hello", b"/public/endless"))
        await reader.readexactly(100_000)
        writer.transport.abort()  # gone, mid-answer
    async with asyncio.timeout(10):
        while await _metric(http, proxy, "rowgate_client_disconnects_total") < 3:
            await asyncio.sleep(0.05)
    assert await _server_errors(http, proxy) == before
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert any("client disconnected" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
