"""Who you are before what you sent: a missing or bad credential is answered 401 (a caller that may
not is 403) before the body is read or validated, and ``Expect: 100-continue`` is answered
``100 Continue`` only once the caller is allowed; otherwise the final answer comes alone and the
connection closes.  Raw sockets, so the interim answer shows."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web

from rowgate.proxy.demo import build_demo_app
from tests.conftest import RunningServer
from tests.data import world
from tests.data.conftest import Client, Start

pytestmark = pytest.mark.integration

BAD_ROW = {"created_at": ""}  # a timestamp column given an empty string: a 422 for whoever may insert


async def test_writes_without_credentials_are_401_before_the_body_is_validated(
    client: Client, data_settings: Any, start_rowgate: Start
) -> None:
    task = world.task_id(1)
    for settings in ({}, {"data.permissions": "off"}):  # the permission, or else the policy, refuses
        anyone = Client(client.http, await start_rowgate(data_settings(**settings)))
        for method, path in (("POST", "/v1/data/tasks"), ("PATCH", f"/v1/data/tasks/{task}")):
            status, body = await anyone.call(method, path, json=BAD_ROW)
            assert (status, body["code"]) == (401, "unauthorized"), (settings, body)
            status, body = await anyone.call(method, path, data=b"{not json")
            assert (status, body["code"]) == (401, "unauthorized"), (settings, body)
            forged = {"Authorization": "Bearer not.a.token"}
            status, body = await anyone.call(method, path, json=BAD_ROW, headers=forged)
            assert (status, body["code"]) == (401, "invalid_token")


async def test_a_member_the_policy_gives_no_write_is_403_before_the_body_is_validated(
    client: Client, data_settings: Any, start_rowgate: Start
) -> None:
    rows_only = Client(client.http, await start_rowgate(data_settings(**{"data.permissions": "off"})))
    await rows_only.enrol("user_a")
    status, body = await rows_only.call("POST", "/v1/data/projects", "user_a", json=BAD_ROW)
    assert (status, body["code"]) == (403, "operation_not_allowed"), body
    assert body["detail"] == "You may not insert into projects: it is allowed to tenant admins."
    status, body = await rows_only.call("POST", "/v1/data/tasks", "user_a", json=BAD_ROW)
    assert (status, body["code"]) == (422, "invalid_value")  # allowed: now the body counts


async def test_own_endpoints_check_the_caller_before_the_body(client: Client) -> None:
    for path in ("/v1/sql", "/v1/auth/api-keys", "/v1/rbac/roles", "/v1/auth/orgs"):
        status, body = await client.call("POST", path, json={"unknown": ["field"]})
        assert (status, body["code"]) == (401, "unauthorized"), (path, body)


class Exchange:
    """One HTTP/1.1 request over a raw connection, its body held back until asked for."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str, method: str, path: str, headers: dict[str, str], length: int) -> Exchange:
        parts = urlsplit(url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        lines = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}", f"Content-Length: {length}"]
        lines += ["Content-Type: application/json", "Expect: 100-continue"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        return cls(reader, writer)

    async def answer(self) -> tuple[int, dict[str, str], bytes]:
        """The next answer: status, headers (lower-case names) and body."""
        status = int((await self.reader.readline()).split()[1])
        headers: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding") != "chunked":
            return status, headers, await self.reader.readexactly(int(headers.get("content-length", "0")))
        body = b""
        while size := int(await self.reader.readline(), 16):
            body += await self.reader.readexactly(size + 2)
            body = body[:-2]
        await self.reader.readline()
        return status, headers, body

    async def send(self, body: bytes) -> None:
        self.writer.write(body)
        await self.writer.drain()

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


Call = Callable[[str, str, dict[str, str], bytes], Awaitable[tuple[list[int], Any, bool]]]


def raw_call(url: str) -> Call:
    """A call that sends the head with ``Expect: 100-continue``, sends the body only after a
    ``100 Continue``, and reports every status seen, the final body and whether the answer closes
    the connection (aiohttp then reads whatever body still comes for a while, so that closing
    does not reset the connection under the answer)."""

    async def call(
        method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[list[int], Any, bool]:
        exchange = await Exchange.open(url, method, path, headers, len(body))
        try:
            status, answer_headers, answer = await exchange.answer()
            statuses = [status]
            if status == 100:
                await exchange.send(body)
                status, answer_headers, answer = await exchange.answer()
                statuses.append(status)
            closed = answer_headers.get("connection", "").lower() == "close"
            return statuses, json.loads(answer) if answer else None, closed
        finally:
            await exchange.close()

    return call


async def test_100_continue_is_sent_only_to_a_caller_that_may_send_its_body(
    client: Client, server: RunningServer
) -> None:
    await client.enrol("user_a")
    call = raw_call(server.url)
    row = json.dumps({"title": "after 100 Continue"}).encode()

    statuses, body, closed = await call("POST", "/v1/data/tasks", {}, row)
    assert (statuses, body["code"], closed) == ([401], "unauthorized", True)
    forged = {"Authorization": "Bearer not.a.token"}
    statuses, body, closed = await call("POST", "/v1/data/tasks", forged, row)
    assert (statuses, body["code"], closed) == ([401], "invalid_token", True)
    statuses, body, closed = await call("POST", "/v1/data/projects", client.headers("user_a"), row)
    assert (statuses, body["code"], closed) == ([403], "permission_denied", True)
    statuses, body, closed = await call("POST", "/v1/sql", {}, b'{"sql": "SELECT 1"}')
    assert (statuses, body["code"], closed) == ([401], "unauthorized", True)

    statuses, body, closed = await call("POST", "/v1/data/tasks", client.headers("user_a"), row)
    assert (statuses, body["data"]["title"], closed) == ([100, 201], "after 100 Continue", False)
    statuses, body, _ = await call("POST", "/v1/auth/email/signin", {}, b'{"email": "x"}')
    assert (statuses, body["code"]) == ([100, 422], "validation_failed")  # a public endpoint


async def test_upstream_routes_answer_100_continue_only_once_the_rule_lets_the_caller_in(
    client: Client,
    data_settings: Any,
    start_rowgate: Start,
    start_app: Callable[[web.Application], Awaitable[str]],
) -> None:
    upstream = await start_app(build_demo_app())
    rules = [{"path": "/api/**", "level": "authenticated"}, {"path": "/admin-only/**", "level": "admin"}]
    proxied = await start_rowgate(data_settings(**{"upstream.url": upstream, "routes.rules": rules}))
    member = Client(client.http, proxied)
    await member.enrol("user_a")
    call = raw_call(proxied.url)

    statuses, body, closed = await call("POST", "/api/echo", {}, b'{"hello": 1}')
    assert (statuses, body["code"], closed) == ([401], "unauthorized", True)
    statuses, body, closed = await call("POST", "/admin-only/whoami", member.headers("user_a"), b"{}")
    assert (statuses, body["code"], closed) == ([403], "admin_required", True)
    statuses, body, closed = await call("POST", "/api/echo", member.headers("user_a"), b'{"hello": 1}')
    assert (statuses, body, closed) == ([100, 200], {"hello": 1}, False)


async def test_an_unknown_expectation_is_417(server: RunningServer) -> None:
    parts = urlsplit(server.url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(b"POST /v1/sql HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: teapot\r\n\r\n")
        await writer.drain()
        status, headers, body = await Exchange(reader, writer).answer()
        assert (status, json.loads(body)["code"]) == (417, "expectation_failed")
        assert headers["content-type"] == "application/problem+json"
    finally:
        writer.close()
        await writer.wait_closed()
