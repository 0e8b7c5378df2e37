"""The proxy in front of a real upstream: headers, streaming, WebSocket, failures, route levels."""

from __future__ import annotations

import asyncio
import io
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from rowgate.config import Settings
from rowgate.proxy.demo import build_demo_app
from tests.conftest import RunningServer, SettingsFactory

pytestmark = pytest.mark.integration

Start = Callable[[Settings], Awaitable[RunningServer]]
StartApp = Callable[[web.Application], Awaitable[str]]

OPEN_ROUTES = {
    "routes.default": "deny",
    "routes.rules": [
        {"path": "/public/**", "level": "public"},
        {"path": "/api/echo", "level": "public"},
        {"path": "/api/bytes", "level": "public"},
        {"path": "/api/whoami", "methods": ["GET"], "level": "public"},
        {"path": "/ws/**", "level": "public"},
        {"path": "/slow", "level": "public"},
        {"path": "/stream/**", "level": "public"},
        {"path": "/private/**", "level": "authenticated"},
        {"path": "/admin-only/**", "level": "admin"},
    ],
}


@pytest.fixture
async def proxied(make_settings: SettingsFactory, start_rowgate: Start, start_app: StartApp) -> RunningServer:
    upstream = await start_app(build_demo_app())
    return await start_rowgate(make_settings(**OPEN_ROUTES, **{"upstream.url": upstream}))


async def test_spoofed_identity_headers_never_reach_the_upstream(
    proxied: RunningServer, http: aiohttp.ClientSession
) -> None:
    spoofed = {
        "X-Rowgate-User-Id": "00000000-0000-0000-0000-000000000001",
        "x-rowgate-org-id": "evil-org",
        "X-ROWGATE-ROLE": "admin",
        "X-Rowgate-Session-Id": "s",
        "X-Rowgate-Anything-Else": "x",
    }
    async with http.get(f"{proxied.url}/api/whoami", headers=spoofed) as response:
        assert response.status == 200
        seen = await response.json()
    # A guest: the only identity header is the one rowgate set itself.
    assert seen["identity"] == {"X-Rowgate-Auth-Method": "guest"}


async def test_hop_by_hop_headers_are_dropped_and_forwarded_headers_set(
    proxied: RunningServer, http: aiohttp.ClientSession
) -> None:
    headers = {
        "Connection": "keep-alive, X-Secret-Hop",
        "X-Secret-Hop": "1",
        "Proxy-Authorization": "Basic Zm9vOmJhcg==",
        "X-Forwarded-For": "6.6.6.6",
        "X-Custom": "kept",
    }
    async with http.get(f"{proxied.url}/api/whoami?a=1&b=%20", headers=headers) as response:
        seen = await response.json()
        request_id = response.headers["X-Request-Id"]
    received = {k.lower(): v for k, v in seen["headers"].items()}
    assert "x-secret-hop" not in received
    assert "proxy-authorization" not in received
    assert received["x-custom"] == "kept"
    assert received["x-request-id"] == request_id
    # The client is not a trusted proxy: its X-Forwarded-For is replaced, not extended.
    assert received["x-forwarded-for"] == "127.0.0.1"
    assert received["x-forwarded-proto"] == "http"
    assert received["x-forwarded-host"] == proxied.url.removeprefix("http://")
    assert seen["query"] == "a=1&b=%20"


CLIENT_SAYS = {
    "Forwarded": "for=6.6.6.6;proto=https;host=admin.internal",
    "X-Real-IP": "6.6.6.6",
    "X-Client-IP": "6.6.6.6",
    "True-Client-IP": "6.6.6.6",
    "CF-Connecting-IP": "6.6.6.6",
    "X-Forwarded-Prefix": "/admin-only",
    "X-Original-URL": "/admin-only/whoami",
    "X-Rewrite-URL": "/admin-only/whoami",
    "X-HTTP-Method-Override": "DELETE",
}
OVERRIDES = {"x-original-url", "x-rewrite-url", "x-http-method-override"}


@pytest.mark.parametrize("trusted", [False, True])
async def test_proxy_headers_come_only_from_trusted_proxies_and_overrides_from_nobody(
    make_settings: SettingsFactory,
    start_rowgate: Start,
    start_app: StartApp,
    http: aiohttp.ClientSession,
    trusted: bool,
) -> None:
    upstream = await start_app(build_demo_app())
    proxies = {"server.trusted_proxies": ["127.0.0.1/32"]} if trusted else {}
    proxy = await start_rowgate(make_settings(**OPEN_ROUTES, **proxies, **{"upstream.url": upstream}))
    async with http.get(f"{proxy.url}/api/whoami", headers=CLIENT_SAYS) as response:
        received = {k.lower(): v for k, v in (await response.json())["headers"].items()}
    passed = {name.lower() for name in CLIENT_SAYS} - OVERRIDES if trusted else set()
    assert {name.lower() for name in CLIENT_SAYS} & set(received) == passed


async def test_request_and_response_bodies_stream_without_being_buffered(
    make_settings: SettingsFactory, start_rowgate: Start, start_app: StartApp, http: aiohttp.ClientSession
) -> None:
    """Each side waits for the other to see a chunk before sending the next one.

    If rowgate buffered either body whole, the first chunk would never arrive before the last
    was sent, and the exchange would stall (and time out) instead of completing.
    """
    chunks = 8
    chunk = b"z" * (256 * 1024)
    upstream_got = [asyncio.Event() for _ in range(chunks)]
    client_got = [asyncio.Event() for _ in range(chunks)]

    async def upload(request: web.Request) -> web.Response:
        received = 0
        index = 0
        async for data in request.content.iter_any():
            received += len(data)
            while index < chunks and received >= (index + 1) * len(chunk):
                upstream_got[index].set()
                index += 1
        return web.json_response({"received": received})

    async def download(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for i in range(chunks):
            await response.write(chunk)
            await asyncio.wait_for(client_got[i].wait(), 10)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/stream/up", upload)
    app.router.add_get("/stream/down", download)
    upstream = await start_app(app)
    proxy = await start_rowgate(make_settings(**OPEN_ROUTES, **{"upstream.url": upstream}))

    async def body() -> AsyncIterator[bytes]:
        for i in range(chunks):
            yield chunk
            await asyncio.wait_for(upstream_got[i].wait(), 10)

    async with http.post(f"{proxy.url}/stream/up", data=body()) as response:
        assert (await response.json()) == {"received": chunks * len(chunk)}

    received = 0
    async with http.get(f"{proxy.url}/stream/down") as response:
        async for data in response.content.iter_any():
            received += len(data)
            for i in range(chunks):
                if received >= (i + 1) * len(chunk):
                    client_got[i].set()
    assert received == chunks * len(chunk)


async def test_large_bodies_pass_through_intact(proxied: RunningServer, http: aiohttp.ClientSession) -> None:
    payload = bytes(range(256)) * (8 * 1024 * 4)  # 8 MiB
    async with http.post(f"{proxied.url}/api/echo", data=io.BytesIO(payload)) as response:
        assert response.status == 200
        assert await response.read() == payload
    async with http.get(f"{proxied.url}/api/bytes?n=5000000") as response:
        assert response.headers["Content-Length"] == "5000000"
        assert len(await response.read()) == 5_000_000


async def test_a_body_over_the_upstream_limit_is_refused(
    make_settings: SettingsFactory, start_rowgate: Start, start_app: StartApp, http: aiohttp.ClientSession
) -> None:
    upstream = await start_app(build_demo_app())
    proxy = await start_rowgate(
        make_settings(**OPEN_ROUTES, **{"upstream.url": upstream, "upstream.max_body_size": "1KiB"})
    )
    async with http.post(f"{proxy.url}/api/echo", data=b"x" * 4096) as response:
        assert response.status == 413
        assert response.content_type == "application/problem+json"
        assert (await response.json())["code"] == "payload_too_large"

    async def chunked() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b"x" * 1024

    async with http.post(f"{proxy.url}/api/echo", data=chunked()) as response:
        assert response.status == 413
        assert (await response.json())["code"] == "payload_too_large"


async def test_websocket_echo_through_the_proxy(proxied: RunningServer, http: aiohttp.ClientSession) -> None:
    async with http.ws_connect(f"{proxied.url}/ws/echo") as ws:
        await ws.send_str("hello")
        assert (await ws.receive(timeout=5)).data == "hello"
        await ws.send_bytes(b"\x00\x01binary")
        assert (await ws.receive(timeout=5)).data == b"\x00\x01binary"
        await ws.close()
    assert ws.closed


async def test_upstream_down_is_a_502_problem(
    make_settings: SettingsFactory, start_rowgate: Start, http: aiohttp.ClientSession
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free_port = sock.getsockname()[1]
    proxy = await start_rowgate(
        make_settings(**OPEN_ROUTES, **{"upstream.url": f"http://127.0.0.1:{free_port}"})
    )
    async with http.get(f"{proxy.url}/public/hello") as response:
        assert response.status == 502
        assert response.content_type == "application/problem+json"
        body = await response.json()
    assert body["code"] == "upstream_unavailable"
    assert "Traceback" not in str(body)


async def test_a_slow_upstream_is_a_504_problem(
    make_settings: SettingsFactory, start_rowgate: Start, start_app: StartApp, http: aiohttp.ClientSession
) -> None:
    checked = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        await checked.wait()  # answers only once the test has its answer: never in time
        return web.Response(text="late")

    app = web.Application()
    app.router.add_get("/slow", slow)
    upstream = await start_app(app)
    proxy = await start_rowgate(
        make_settings(**OPEN_ROUTES, **{"upstream.url": upstream, "upstream.read_timeout": "300ms"})
    )
    try:
        async with http.get(f"{proxy.url}/slow") as response:
            assert response.status == 504
            assert (await response.json())["code"] == "upstream_timeout"
    finally:
        checked.set()


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/private/x", 401, "unauthorized"),
        ("GET", "/admin-only/whoami", 401, "unauthorized"),
        ("GET", "/not/in/any/rule", 403, "route_denied"),
        ("POST", "/api/whoami", 403, "route_denied"),
        ("GET", "/public/../admin-only/whoami", 400, "invalid_path"),
        ("GET", "/public/%2e%2e/admin-only/whoami", 400, "invalid_path"),
        ("GET", "/admin-only%2Fwhoami", 400, "invalid_path"),
    ],
)
async def test_route_levels_for_a_guest(
    proxied: RunningServer, http: aiohttp.ClientSession, method: str, path: str, status: int, code: str
) -> None:
    async with http.request(method, yarl_raw(proxied.url + path)) as response:
        assert response.status == status
        assert response.content_type == "application/problem+json"
        assert (await response.json())["code"] == code


def yarl_raw(url: str) -> object:
    """A URL sent exactly as written (no client-side normalisation of dot segments)."""
    import yarl

    return yarl.URL(url, encoded=True)


async def test_head_keeps_the_upstream_content_length(
    proxied: RunningServer, http: aiohttp.ClientSession
) -> None:
    async with http.head(f"{proxied.url}/api/bytes?n=1000") as response:
        assert response.status == 200
        assert response.headers["Content-Length"] == "1000"
        assert await response.read() == b""


async def test_shutdown_lets_requests_in_flight_finish(
    make_settings: SettingsFactory, start_app: StartApp, http: aiohttp.ClientSession
) -> None:
    from rowgate.proxy.app import build_app
    from rowgate.proxy.server import start

    arrived = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        arrived.set()
        await asyncio.sleep(0.5)
        return web.Response(text="finished")

    app = web.Application()
    app.router.add_get("/slow", slow)
    upstream = await start_app(app)
    settings = make_settings(**OPEN_ROUTES, **{"upstream.url": upstream, "server.shutdown_timeout": "5s"})
    runner, port = await start(build_app(settings), settings, host="127.0.0.1", port=0)

    async def call() -> tuple[int, str]:
        async with http.get(f"http://127.0.0.1:{port}/slow") as response:
            return response.status, await response.text()

    in_flight = asyncio.create_task(call())
    await asyncio.wait_for(arrived.wait(), 5)
    await runner.cleanup()  # what SIGTERM triggers
    assert await in_flight == (200, "finished")
    with pytest.raises(aiohttp.ClientConnectionError):
        await call()
