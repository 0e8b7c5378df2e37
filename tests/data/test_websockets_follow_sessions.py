"""WebSockets follow their credentials: a socket opened with a session, an API key or a token is
closed with 1008 (policy violation) once that credential is no longer accepted, on every instance;
messages over ``upstream.websocket_max_message`` close with 1009; close codes and reasons pass
through both ways.  Real WebSocket clients, two rowgate instances sharing PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web

from rowgate.config import Settings
from tests.conftest import RunningServer
from tests.data.conftest import Client, Start

pytestmark = pytest.mark.integration

StartApp = Callable[[web.Application], Awaitable[str]]
WAIT = 20  # seconds: far beyond what any close here takes; only a hang reaches it

ROUTES = {
    "routes.default": "deny",
    "routes.rules": [
        {"path": "/ws/open/**", "level": "public"},
        {"path": "/ws/**", "level": "authenticated"},
    ],
}


class Upstream:
    """Echoes; ``close <code> <reason>`` makes it close so; it keeps how clients closed on it."""

    def __init__(self) -> None:
        self.closes: asyncio.Queue[tuple[int | None, str]] = asyncio.Queue()

    async def socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0, autoclose=False)
        await ws.prepare(request)
        while True:
            message = await ws.receive()
            if message.type == WSMsgType.TEXT and message.data.startswith("close "):
                _, code, reason = message.data.split(" ", 2)
                await ws.close(code=int(code), message=reason.encode())
                return ws
            if message.type == WSMsgType.TEXT and message.data.startswith("big "):
                await ws.send_bytes(b"x" * int(message.data.split()[1]))
            elif message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                await (ws.send_str if message.type == WSMsgType.TEXT else ws.send_bytes)(message.data)
            else:
                await self.closes.put((message.data, message.extra or ""))
                await ws.close(code=message.data or 1000)
                return ws

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self.socket)
        return app


@pytest.fixture
async def upstream(start_app: StartApp) -> tuple[Upstream, str]:
    recorder = Upstream()
    return recorder, await start_app(recorder.app())


@pytest.fixture
def ws_settings(data_settings: Any, upstream: tuple[Upstream, str]) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        return data_settings(**ROUTES, **{"upstream.url": upstream[1]}, **overrides)  # type: ignore[no-any-return]

    return make


async def two_instances(
    http: aiohttp.ClientSession, ws_settings: Callable[..., Settings], start_rowgate: Start
) -> tuple[Client, Client]:
    settings = ws_settings()
    return Client(http, await start_rowgate(settings)), Client(http, await start_rowgate(settings))


async def open_socket(
    http: aiohttp.ClientSession, server: RunningServer, path: str, headers: dict[str, str]
) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(server.url + path, headers=headers)
    await ws.send_str("ping")
    assert (await ws.receive(timeout=WAIT)).data == "ping"  # open and relayed both ways
    return ws


async def closed_with(ws: aiohttp.ClientWebSocketResponse) -> tuple[int | None, str]:
    """How the socket was closed: its code and reason, as the client saw them."""
    message = await ws.receive(timeout=WAIT)
    assert message.type == WSMsgType.CLOSE, message
    return message.data, message.extra or ""


async def test_signing_out_on_one_instance_closes_the_socket_on_another(
    http: aiohttp.ClientSession, ws_settings: Callable[..., Settings], start_rowgate: Start
) -> None:
    a, b = await two_instances(http, ws_settings, start_rowgate)
    await a.enrol("user_a")
    headers = a.headers("user_a")
    ws = await open_socket(http, b.server, "/ws/chat", headers)
    other = await open_socket(http, b.server, "/ws/open/feed", {})  # a guest's socket stays

    status, _ = await a.call("POST", "/v1/auth/signout", headers=headers)
    assert status == 204
    assert await closed_with(ws) == (1008, "session revoked")
    await other.send_str("still here")
    assert (await other.receive(timeout=WAIT)).data == "still here"
    await other.close()
    async with http.get(b.server.url + "/ws/chat", headers=headers) as response:
        assert response.status == 401  # and HTTP with the same token, as before


async def test_revoking_an_api_key_closes_its_sockets(
    http: aiohttp.ClientSession,
    ws_settings: Callable[..., Settings],
    start_rowgate: Start,
    upstream: tuple[Upstream, str],
) -> None:
    a, b = await two_instances(http, ws_settings, start_rowgate)
    await a.enrol("admin_a")
    status, key = await a.call(
        "POST", "/v1/auth/api-keys", "admin_a", json={"name": "socket", "type": "secret", "scopes": []}
    )
    assert status == 201, key
    ws = await open_socket(http, b.server, "/ws/chat", {"X-API-Key": key["key"]})

    status, _ = await a.call("DELETE", f"/v1/auth/api-keys/{key['id']}", "admin_a")
    assert status == 204
    assert await closed_with(ws) == (1008, "api key revoked")
    assert await asyncio.wait_for(upstream[0].closes.get(), WAIT) == (1008, "api key revoked")


async def test_a_socket_closes_when_its_token_expires(
    http: aiohttp.ClientSession, ws_settings: Callable[..., Settings], start_rowgate: Start
) -> None:
    short = Client(http, await start_rowgate(ws_settings(**{"tokens.access_ttl": "2s"})))
    await short.enrol("user_a")
    ws = await open_socket(http, short.server, "/ws/chat", short.headers("user_a"))
    assert await closed_with(ws) == (1008, "credential expired")


async def test_messages_over_the_configured_limit_close_with_1009(
    http: aiohttp.ClientSession, ws_settings: Callable[..., Settings], start_rowgate: Start
) -> None:
    small = await start_rowgate(ws_settings(**{"upstream.websocket_max_message": "64KiB"}))
    ws = await open_socket(http, small, "/ws/open/feed", {})
    await ws.send_bytes(b"x" * (64 * 1024))  # at the limit: relayed
    assert len((await ws.receive(timeout=WAIT)).data) == 64 * 1024
    await ws.send_bytes(b"x" * (64 * 1024 + 1))
    assert (await closed_with(ws))[0] == 1009

    ws = await open_socket(http, small, "/ws/open/feed", {})
    await ws.send_str(f"big {64 * 1024 + 1}")  # the upstream's message over the limit, likewise
    assert (await closed_with(ws))[0] == 1009


async def test_close_codes_and_reasons_pass_through_both_ways(
    http: aiohttp.ClientSession,
    ws_settings: Callable[..., Settings],
    start_rowgate: Start,
    upstream: tuple[Upstream, str],
) -> None:
    server = await start_rowgate(ws_settings())
    ws = await open_socket(http, server, "/ws/open/feed", {})
    await ws.send_str("close 4000 the upstream is done with you")
    assert await closed_with(ws) == (4000, "the upstream is done with you")

    ws = await open_socket(http, server, "/ws/open/feed", {})
    await ws.close(code=4001, message=b"the client leaves")
    assert await asyncio.wait_for(upstream[0].closes.get(), WAIT) == (4001, "the client leaves")
