"""JSON bodies of rowgate's own endpoints: every bad input a 4xx problem with a stable code."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from rowgate.errors import RowgateError
from rowgate.proxy.bodies import Body, parse_body
from rowgate.proxy.problem import problem_response


class Signup(Body):
    email: str
    password: str
    display_name: str | None = None
    age: int | None = None


async def signup(request: web.Request) -> web.Response:
    try:
        body = await parse_body(request, Signup, limit=8192)
    except RowgateError as error:
        return problem_response(error)
    return web.json_response(body.model_dump(by_alias=True))


@pytest.fixture
async def url(start_app: Callable[[web.Application], Awaitable[str]]) -> str:
    app = web.Application()
    app.router.add_post("/signup", signup)
    return await start_app(app) + "/signup"


async def post(
    http: aiohttp.ClientSession, url: str, data: bytes, content_type: str = "application/json"
) -> tuple[int, dict[str, object]]:
    async with http.post(url, data=data, headers={"Content-Type": content_type}) as response:
        return response.status, await response.json(content_type=None)


async def test_a_valid_body_in_camel_case(http: aiohttp.ClientSession, url: str) -> None:
    status, body = await post(
        http, url, json.dumps({"email": "a@b.c", "password": "x", "displayName": "A"}).encode()
    )
    assert status == 200
    assert body == {"email": "a@b.c", "password": "x", "displayName": "A", "age": None}


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "malformed_body"),
        (b"", "application/json", 400, "malformed_body"),
        (b"\xff\xfe{}", "application/json", 400, "malformed_body"),
        (b'{"email": NaN}', "application/json", 400, "malformed_body"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 413, "payload_too_large"),
        (b"[" * 500 + b"]" * 500, "application/json", 422, "validation_failed"),
        (
            b'{"email": "a@b.c", "password": "' + b"x" * 10_000 + b'"}',
            "application/json",
            413,
            "payload_too_large",
        ),
        (b"email=a", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b"[1, 2]", "application/json", 422, "validation_failed"),
        (b'"text"', "application/json", 422, "validation_failed"),
        (b'{"email": "a@b.c"}', "application/json", 422, "validation_failed"),
        (b'{"email": 5, "password": "x"}', "application/json", 422, "validation_failed"),
        (b'{"email": "a@b.c", "password": "x", "age": "5"}', "application/json", 422, "validation_failed"),
        (b'{"email": "a@b.c", "password": "x", "admin": true}', "application/json", 422, "validation_failed"),
        (
            b'{"email": "a@b.c", "password": "x", "age": 1' + b"0" * 5000 + b"}",
            "application/json",
            400,
            "malformed_body",
        ),
    ],
)
async def test_bad_bodies_are_4xx_problems(
    http: aiohttp.ClientSession, url: str, data: bytes, content_type: str, status: int, code: str
) -> None:
    got_status, body = await post(http, url, data, content_type)
    assert got_status == status
    assert body["code"] == code
    assert body["status"] == status


async def test_field_errors_name_every_field(http: aiohttp.ClientSession, url: str) -> None:
    status, body = await post(http, url, b'{"password": 1, "admin": true}')
    assert status == 422
    fields = {e["field"]: e["message"] for e in body["errors"]}  # type: ignore[attr-defined, index]
    assert fields == {
        "email": "required field is missing",
        "password": "Input should be a valid string",
        "admin": "unknown field",
    }
