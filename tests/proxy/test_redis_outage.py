"""Redis stopped under a running rowgate: what needs the shared store fails closed with a 503
problem (never a 500, never a sign-in that skips its lockout counters), what does not need it
keeps working, a revocation made meanwhile holds at once on the instance that made it and reaches
the others when Redis is back, and everything recovers without restarting rowgate.

The Redis server is a private one on a free port, never the shared test server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from rowgate.config import Settings
from rowgate.proxy.demo import build_demo_app
from tests.conftest import SettingsFactory
from tests.proxy.authkit import FAST, ROUTES, Api, Start, StartApp
from tests.servers import PrivateRedis

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def settings_for(
    private_redis: PrivateRedis, make_settings: SettingsFactory, start_app: StartApp
) -> Callable[[], Awaitable[Settings]]:
    async def make() -> Settings:
        upstream = await start_app(build_demo_app())
        return make_settings(**{**FAST, **ROUTES, "upstream.url": upstream, "redis.url": private_redis.url})

    return make


async def _get(api: Api, path: str) -> tuple[int, str]:
    async with api.http.get(f"{api.server.url}{path}") as response:
        return response.status, await response.text()


async def _eventually_unauthorized(api: Api, token: str) -> None:
    async with asyncio.timeout(15):
        while await api.whoami(token) != 401:
            await asyncio.sleep(0.05)


async def test_with_redis_down_what_needs_it_is_a_503_and_revocations_still_hold(
    private_redis: PrivateRedis,
    settings_for: Callable[[], Awaitable[Settings]],
    start_rowgate: Start,
    http: aiohttp.ClientSession,
) -> None:
    api = Api(http, await start_rowgate(await settings_for()))
    first = await api.signup("outage@example.com")
    assert first.status == 201, first.body
    token = first.body["accessToken"]
    assert await api.whoami(token) == 200

    private_redis.stop()

    # Sign-in needs its lockout counters: refused rather than run without them.
    answer = await api.signin("outage@example.com")
    assert (answer.status, answer.code) == (503, "service_unavailable")
    assert answer.headers["Content-Type"] == "application/problem+json"
    # Verified tokens and public routes do not need the store.
    assert await api.whoami(token) == 200
    assert (await _get(api, "/public/hello"))[0] == 200
    assert (await _get(api, "/healthz"))[0] == 200
    status, text = await _get(api, "/readyz")
    assert status == 503
    assert "store" in text

    # Signing out cannot reach the other instances: the answer says so, and this instance
    # refuses the token at once all the same.
    answer = await api.call("POST", "/signout", token=token)
    assert (answer.status, answer.code) == (503, "service_unavailable")
    assert await api.whoami(token) == 401
    assert "rowgate_revocations_pending 1" in (await _get(api, "/metrics"))[1]

    private_redis.start()

    # Once the store is back, the revocation is shared without anyone retrying: an instance
    # started now refuses the token too (it reads revocations from the database), the pending
    # announcement is made when this instance's subscription reconnects, and sign-in works again.
    other = Api(http, await start_rowgate(await settings_for()))
    await _eventually_unauthorized(other, token)
    async with asyncio.timeout(15):
        while "rowgate_revocations_pending 0" not in (await _get(api, "/metrics"))[1]:
            await asyncio.sleep(0.05)
    answer = await api.signin("outage@example.com")
    assert answer.status == 200, answer.body
    assert await api.whoami(answer.body["accessToken"]) == 200
    assert await other.whoami(answer.body["accessToken"]) == 200
