"""Per-caller rate limits on proxied routes and the data API: RateLimit fields on the answers, a
429 problem with Retry-After beyond the budget, one budget shared by every instance, per-key
limits given when a key is created or rotated, and bad limits refused with nothing written."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from rowgate.auth.principal import Principal
from rowgate.config import Settings
from rowgate.config.limits import RateLimitSettings
from rowgate.proxy.demo import build_demo_app
from rowgate.proxy.ratelimit import budget_of
from tests.conftest import RunningServer, SettingsFactory
from tests.proxy.authkit import Start, StartApp
from tests.proxy.test_redis_outage import PrivateRedis
from tests.tenancykit import Answer, Member, Tenancy

pytestmark = pytest.mark.integration

ROUTES = {
    "routes.default": "deny",
    "routes.rules": [
        {"path": "/public/**", "level": "public"},
        {"path": "/api/**", "level": "authenticated"},
    ],
}
SMALL = {
    "rate_limits.ip": {"limit": 3, "window": "1m"},
    "rate_limits.user": {"limit": 4, "window": "1m"},
    "rate_limits.api_key": {"limit": 5, "window": "1m"},
    "rate_limits.max_api_key": {"limit": 100, "window": "1m"},
}
LIMIT = re.compile(r'^"(?P<policy>[a-z-]+)";r=(?P<r>\d+);t=(?P<t>\d+)$')


@pytest.fixture
async def settings(make_settings: SettingsFactory, start_app: StartApp) -> Settings:
    upstream = await start_app(build_demo_app())
    return make_settings(**ROUTES, **SMALL, **{"upstream.url": upstream})


@pytest.fixture
async def server(settings: Settings, start_rowgate: Start) -> RunningServer:
    return await start_rowgate(settings)


@pytest.fixture
def t(server: RunningServer, http: aiohttp.ClientSession) -> Tenancy:
    return Tenancy(server, http)


def limit_of(answer: Answer) -> tuple[str, int, int]:
    """``(policy, remaining, seconds)`` from the RateLimit field."""
    found = LIMIT.fullmatch(answer.headers["RateLimit"])
    assert found, answer.headers["RateLimit"]
    return found["policy"], int(found["r"]), int(found["t"])


async def spend(t: Tenancy, count: int, path: str = "/public/hello", **kwargs: Any) -> list[Answer]:
    return [await t.call("GET", path, **kwargs) for _ in range(count)]


async def rate_limited(t: Tenancy, group: str) -> float:
    """``rowgate_rate_limited_total{group}`` as ``/metrics`` shows it."""
    async with t.http.get(f"{t.server.url}/metrics") as response:
        text = await response.text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "rowgate_rate_limited_total" and sample.labels == {"group": group}:
                return sample.value
    return 0.0


async def test_guests_spend_their_ips_budget_and_then_get_a_429_problem(t: Tenancy) -> None:
    counted = await rate_limited(t, "upstream")
    answers = await spend(t, 4)
    assert await rate_limited(t, "upstream") == counted + 1

    assert [a.status for a in answers] == [200, 200, 200, 429]
    assert {a.headers["RateLimit-Policy"] for a in answers} == {'"ip";q=3;w=60'}
    assert [limit_of(a)[:2] for a in answers] == [("ip", 2), ("ip", 1), ("ip", 0), ("ip", 0)]
    refused = answers[-1]
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert (refused.body["code"], refused.body["status"]) == ("rate_limited", 429)
    retry = int(refused.headers["Retry-After"])
    assert 1 <= retry <= 20  # one request more every 20 seconds
    assert limit_of(refused)[2] == retry == refused.body["retryAfter"]
    # rowgate's own endpoints are not counted
    for path in ("/healthz", "/.well-known/jwks.json"):
        answer = await t.call("GET", path)
        assert answer.status == 200
        assert "RateLimit" not in answer.headers


async def test_users_and_keys_have_budgets_of_their_own(t: Tenancy) -> None:
    await spend(t, 3)  # the IP's budget is gone
    alice, bob = await t.member(), await t.member()
    answers = await spend(t, 5, "/api/hello", who=alice)
    assert [a.status for a in answers] == [200, 200, 200, 200, 429]
    assert answers[0].headers["RateLimit-Policy"] == '"user";q=4;w=60'
    assert (await t.call("GET", "/api/hello", bob)).status == 200  # bob's budget is his own

    created = await t.call(
        "POST", "/v1/auth/api-keys", alice, json={"name": "k", "type": "secret", "scopes": ["*"]}
    )
    assert created.status == 201  # rowgate's own endpoints spend nothing
    key = {"X-API-Key": created.body["key"]}
    answers = await spend(t, 6, "/api/hello", headers=key)
    assert [a.status for a in answers] == [200] * 5 + [429]
    assert answers[0].headers["RateLimit-Policy"] == '"api-key";q=5;w=60'


async def test_the_data_api_spends_the_same_budget(t: Tenancy) -> None:
    alice = await t.member()
    answer = await t.call("POST", "/v1/sql", alice, json={"sql": "SELECT 1 AS one"})
    assert limit_of(answer)[:2] == ("user", 3)
    answer = await t.call("GET", "/v1/data/nothing", alice)
    assert (answer.status, limit_of(answer)[:2]) == (404, ("user", 2))  # problems carry the fields too
    await spend(t, 2, "/api/hello", who=alice)
    answer = await t.call("GET", "/v1/data/openapi.json", alice)
    assert (answer.status, answer.body["code"]) == (429, "rate_limited")


async def test_two_instances_share_one_budget(t: Tenancy, settings: Settings, start_rowgate: Start) -> None:
    second = await start_rowgate(settings)
    alice = await t.member()
    statuses = [
        (await t.call("GET", "/api/hello", alice, server=server)).status
        for server in (t.server, second, t.server, second, t.server, second)
    ]
    assert statuses == [200, 200, 200, 200, 429, 429]


async def create(t: Tenancy, admin: Member, **body: Any) -> Answer:
    return await t.call("POST", "/v1/auth/api-keys", admin, json={"name": "k", "type": "secret", **body})


async def test_a_key_carries_its_own_limit_through_rotation(t: Tenancy) -> None:
    admin = await t.member()
    created = await create(t, admin, rateLimit={"limit": 2, "window": "30s"})
    assert created.status == 201, created.body
    assert created.body["rateLimit"] == {"limit": 2, "window": 30}
    key = {"X-API-Key": created.body["key"]}
    answers = await spend(t, 3, "/api/hello", headers=key)
    assert [a.status for a in answers] == [200, 200, 429]
    assert answers[0].headers["RateLimit-Policy"] == '"api-key";q=2;w=30'
    listed = await t.call("GET", "/v1/auth/api-keys", admin)
    assert listed.body["keys"][0]["rateLimit"] == {"limit": 2, "window": 30}

    rotated = await t.call("POST", f"/v1/auth/api-keys/{created.body['id']}/rotate", admin, json={})
    assert rotated.body["rateLimit"] == {"limit": 2, "window": 30}  # kept
    again = await t.call(
        "POST", f"/v1/auth/api-keys/{rotated.body['id']}/rotate", admin, json={"rateLimit": None}
    )
    assert again.body["rateLimit"] is None  # back to rate_limits.api_key
    answer = await t.call("GET", "/api/hello", headers={"X-API-Key": again.body["key"]})
    assert answer.headers["RateLimit-Policy"] == '"api-key";q=5;w=60'
    changed = await t.call(
        "POST",
        f"/v1/auth/api-keys/{again.body['id']}/rotate",
        admin,
        json={"rateLimit": {"limit": 50, "window": 60}},
    )
    assert changed.body["rateLimit"] == {"limit": 50, "window": 60}


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"rateLimit": {"limit": -1, "window": 60}}, "validation_failed", "rateLimit.limit"),
        ({"rateLimit": {"limit": 0, "window": 60}}, "validation_failed", "rateLimit.limit"),
        ({"rateLimit": {"limit": 10**12, "window": 60}}, "validation_failed", "rateLimit.limit"),
        ({"rateLimit": {"limit": "10", "window": 60}}, "validation_failed", "rateLimit.limit"),
        ({"rateLimit": {"limit": 10, "window": -5}}, "validation_failed", "rateLimit.window"),
        ({"rateLimit": {"limit": 10, "window": "0s"}}, "validation_failed", "rateLimit.window"),
        ({"rateLimit": {"limit": 10, "window": "400d"}}, "validation_failed", "rateLimit.window"),
        ({"rateLimit": {"limit": 10, "window": "1.5s"}}, "validation_failed", "rateLimit.window"),
        ({"rateLimit": {"limit": 10}}, "validation_failed", "rateLimit.window"),
        ({"rateLimit": {"limit": 10, "window": 60, "burst": 3}}, "validation_failed", "rateLimit.burst"),
        ({"rateLimit": 10}, "validation_failed", "rateLimit"),
        ({"rateLimit": {"limit": 101, "window": 60}}, "rate_limit_too_high", "rateLimit"),  # burst
        ({"rateLimit": {"limit": 100, "window": 30}}, "rate_limit_too_high", "rateLimit"),  # rate
        (
            {"type": "publishable", "rateLimit": {"limit": 1, "window": 60}},
            "publishable_key_rate_limit",
            "rateLimit",
        ),
    ],
)
async def test_bad_limits_are_refused_and_nothing_is_written(
    t: Tenancy, body: dict[str, Any], code: str, field: str
) -> None:
    admin = await t.member()
    refused = await create(t, admin, **body)
    assert (refused.status, refused.body["code"]) == (422, code), refused.body
    assert [e["field"] for e in refused.body["errors"]] == [field]
    assert (await t.call("GET", "/v1/auth/api-keys", admin)).body["keys"] == []
    if code == "validation_failed":
        kept = await create(t, admin)
        rotate = await t.call("POST", f"/v1/auth/api-keys/{kept.body['id']}/rotate", admin, json=body)
        assert (rotate.status, rotate.body["code"]) == (422, code)
        assert [k["id"] for k in (await t.call("GET", "/v1/auth/api-keys", admin)).body["keys"]] == [
            kept.body["id"]
        ]


async def test_limits_can_be_turned_off(
    make_settings: SettingsFactory, start_app: StartApp, start_rowgate: Start, http: aiohttp.ClientSession
) -> None:
    upstream = await start_app(build_demo_app())
    server = await start_rowgate(
        make_settings(**ROUTES, **SMALL, **{"upstream.url": upstream, "rate_limits.enabled": False})
    )
    answers = await spend(Tenancy(server, http), 5)
    assert [a.status for a in answers] == [200] * 5
    assert "RateLimit" not in answers[0].headers


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    redis = PrivateRedis()
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


@pytest.mark.slow
async def test_without_the_store_requests_go_on_unchecked_but_empty_buckets_stay_empty(
    private_redis: PrivateRedis,
    make_settings: SettingsFactory,
    start_app: StartApp,
    start_rowgate: Start,
    http: aiohttp.ClientSession,
) -> None:
    upstream = await start_app(build_demo_app())
    server = await start_rowgate(
        make_settings(**ROUTES, **SMALL, **{"upstream.url": upstream, "redis.url": private_redis.url})
    )
    t = Tenancy(server, http)
    alice = await t.member()
    assert [a.status for a in await spend(t, 4)] == [200, 200, 200, 429]  # the IP's budget is gone
    private_redis.stop()
    # A bucket that refused stays empty until its Retry-After: no need to ask the store.
    assert [a.status for a in await spend(t, 3)] == [429, 429, 429]
    answers = await spend(t, 5, "/api/hello", who=alice)
    assert [a.status for a in answers] == [200] * 5
    assert "RateLimit" not in answers[0].headers
    async with http.get(f"{server.url}/metrics") as response:
        text = await response.text()
    assert "rowgate_rate_limit_unchecked 5" in text
    assert "rowgate_rate_limit_refused 4" in text


def test_a_keys_own_limit_never_exceeds_the_configured_ceiling() -> None:
    # The ceiling may be lowered after a key was given its own limit: it holds all the same.
    limits = RateLimitSettings.model_validate(
        {"api_key": {"limit": 50, "window": "1m"}, "max_api_key": {"limit": 100, "window": "1m"}}
    )
    for given, expected in (
        ((10, 60), (10, 60)),
        ((500, 60), (100, 60)),
        ((100, 1), (100, 60)),
        (None, (50, 60)),
    ):
        key = Principal(
            method="api_key", org_id="o", api_key_id="k", groups=frozenset({"user"}), rate_limit=given
        )
        budget = budget_of(key, "127.0.0.1", limits)
        assert (budget.policy, budget.limit, budget.window) == ("api-key", *expected), given
