"""``/metrics`` through HTTP: the counters operators watch move with what clients do.

Counters are per process (the tests of a run share one), so each test compares a scrape taken
before with one taken after.
"""

from __future__ import annotations

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from rowgate.proxy.demo import build_demo_app
from tests.conftest import SettingsFactory
from tests.proxy.authkit import FAST, ROUTES, Api, Start, StartApp

pytestmark = pytest.mark.integration

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(api: Api) -> Samples:
    async with api.http.get(f"{api.server.url}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        text = await response.text()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


@pytest.fixture
async def api(
    make_settings: SettingsFactory, start_rowgate: Start, start_app: StartApp, http: aiohttp.ClientSession
) -> Api:
    upstream = await start_app(build_demo_app())
    return Api(http, await start_rowgate(make_settings(**{**FAST, **ROUTES, "upstream.url": upstream})))


async def test_sign_ins_refreshes_and_revocations_are_counted(api: Api) -> None:
    before = await scrape(api)
    await api.signup("metrics@example.com")
    assert (await api.signin("metrics@example.com", "Not-The-Password-1")).status == 401
    tokens = (await api.signin("metrics@example.com")).body
    renewed = await api.call("POST", "/refresh", {"refreshToken": tokens["refreshToken"]})
    assert renewed.status == 200
    signout = await api.call("POST", "/signout", token=renewed.body["accessToken"])
    assert signout.status in (200, 204)
    after = await scrape(api)

    assert moved(before, after, "rowgate_signins_total", outcome="failed") == 1
    assert moved(before, after, "rowgate_signins_total", outcome="succeeded") == 2  # signup signs in
    assert moved(before, after, "rowgate_token_refreshes_total", outcome="rotated") == 1
    assert moved(before, after, "rowgate_revocations_total", what="signout") == 1
    assert moved(before, after, "rowgate_request_duration_seconds_count", group="auth") == 5
    assert moved(before, after, "rowgate_requests_total", method="POST", status="2xx") == 4
    assert moved(before, after, "rowgate_requests_total", method="POST", status="4xx") == 1


async def test_the_first_metric_names_still_answer(api: Api) -> None:
    after = await scrape(api)
    names = {name for name, _ in after}
    for name in (
        "rowgate_requests_total",
        "rowgate_request_duration_seconds_bucket",
        "rowgate_token_cache_hits",
        "rowgate_revocations_pending",
        "rowgate_client_disconnects_total",
        "rowgate_header_timeouts_total",
        "rowgate_slow_connections",
    ):
        assert name in names


async def test_requests_are_grouped_by_route_never_by_path(api: Api) -> None:
    before = await scrape(api)
    for path in ("/healthz", "/api/whoami", "/api/no-such-thing-1", "/api/no-such-thing-2"):
        async with api.http.get(f"{api.server.url}{path}"):
            pass
    after = await scrape(api)
    assert moved(before, after, "rowgate_request_duration_seconds_count", group="health") == 1
    assert moved(before, after, "rowgate_request_duration_seconds_count", group="upstream") == 3
    assert not any("no-such-thing" in value for _, labels in after for _, value in labels)
