"""Malformed and oversized HTTP gets a 4xx problem document, never a 500 or a stack trace."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from rowgate.config import Settings
from tests.conftest import RunningServer, SettingsFactory

pytestmark = pytest.mark.integration


@pytest.fixture
async def server(
    make_settings: SettingsFactory, start_rowgate: Callable[[Settings], Awaitable[RunningServer]]
) -> RunningServer:
    return await start_rowgate(make_settings(**{"upstream.url": None}))


async def _read_answer(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(
        next(
            line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        )
    )
    return head + await reader.readexactly(length)


async def raw_exchange(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are and parse the status, headers and body of the answer."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    answer = asyncio.create_task(_read_answer(reader))
    # Send in pieces while the answer is read, as a browser or curl would: the server may answer
    # (and close) before it has read everything, so the rest is not sent after the answer came.
    for start in range(0, len(request), 8192):
        if answer.done():
            break
        with contextlib.suppress(ConnectionError):
            writer.write(request[start : start + 8192])
            await writer.drain()
    raw = await asyncio.wait_for(answer, 10)
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    return status, headers, body


async def test_a_1mb_authorization_header_is_a_431_problem(server: RunningServer) -> None:
    request = (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + b"a" * (1024 * 1024) + b"\r\n\r\n"
    )
    status, headers, body = await raw_exchange(server.url, request)
    assert status == 431
    assert headers["content-type"].startswith("application/problem+json")
    problem = json.loads(body)
    assert problem["code"] == "headers_too_large"
    assert "aaaa" not in body.decode()


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header Without Colon\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
)
async def test_malformed_http_is_a_400_problem(server: RunningServer, request_bytes: bytes) -> None:
    status, headers, body = await raw_exchange(server.url, request_bytes)
    assert 400 <= status < 500
    assert headers["content-type"].startswith("application/problem+json")
    assert json.loads(body)["status"] == status


async def test_health_and_readiness(server: RunningServer, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{server.url}/healthz") as response:
        assert response.status == 200
        assert await response.json() == {"status": "ok"}
    async with http.get(f"{server.url}/readyz") as response:
        assert response.status == 200
        assert (await response.json())["status"] == "ready"


async def test_unknown_paths_without_an_upstream_are_404_problems(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{server.url}/no/such/thing", headers={"X-Request-Id": "trace-123"}) as response:
        assert response.content_type == "application/problem+json"
        assert response.headers["X-Request-Id"] == "trace-123"
        body = await response.json()
    # The default route level is deny: refused before any lookup.
    assert response.status == 403
    assert body["code"] == "route_denied"


async def test_a_wrong_method_on_an_own_endpoint_is_a_405_problem(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    async with http.delete(f"{server.url}/healthz") as response:
        assert response.status == 405
        assert response.content_type == "application/problem+json"
        assert response.headers["Allow"] == "GET, HEAD"
        assert (await response.json())["code"] == "method_not_allowed"


async def test_unknown_paths_under_own_mounts_never_reach_the_upstream(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{server.url}/v1/auth/no-such-endpoint") as response:
        assert response.status == 404
        assert (await response.json())["code"] == "not_found"


async def test_unknown_paths_under_the_dashboard_never_reach_the_upstream(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    """/admin is the dashboard's mount (on by default): a path below it that no page serves is
    rowgate's 404, not the app's (with the dashboard off the route rules decide:
    tests/dashboard/test_refusals_http.py)."""
    async with http.get(f"{server.url}/admin/users") as response:
        assert response.status == 404
        assert (await response.json())["code"] == "not_found"


async def test_a_hostile_request_id_is_replaced(server: RunningServer, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{server.url}/healthz", headers={"X-Request-Id": "x" * 500}) as response:
        assert response.headers["X-Request-Id"] != "x" * 500
        assert len(response.headers["X-Request-Id"]) == 32


async def test_metrics_count_requests_by_status_class(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    async def counts() -> tuple[float, float, float, float]:
        async with http.get(f"{server.url}/metrics") as response:
            assert response.status == 200
            text = await response.text()
        assert "rowgate_token_cache_hits" in text
        samples = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }
        return (
            samples.get(("rowgate_requests_total", (("method", "GET"), ("status", "2xx"))), 0.0),
            samples.get(("rowgate_requests_total", (("method", "GET"), ("status", "4xx"))), 0.0),
            samples.get(
                ("rowgate_request_duration_seconds_bucket", (("group", "health"), ("le", "+Inf"))), 0.0
            ),
            samples.get(
                ("rowgate_request_duration_seconds_bucket", (("group", "auth"), ("le", "+Inf"))), 0.0
            ),
        )

    # Counters are per process (other tests of the run move them too): compare before and after.
    before = await counts()
    for path in ("/healthz", "/healthz", "/v1/auth/nothing"):
        async with http.get(f"{server.url}{path}"):
            pass
    after = await counts()
    moved = [a - b for a, b in zip(after, before, strict=True)]
    assert moved == [3, 1, 2, 1]  # the first scrape is a GET answered 2xx too
