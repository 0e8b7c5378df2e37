"""Bad input to every identity endpoint is a 4xx problem; enumeration gets nothing to compare."""

from __future__ import annotations

import io
from typing import Any

import aiohttp
import pytest

from rowgate.proxy.appkeys import SERVICES
from rowgate.proxy.demo import build_demo_app
from tests.conftest import SettingsFactory
from tests.proxy.authkit import FAST, PASSWORD, ROUTES, Answer, Api, Start, StartApp

pytestmark = pytest.mark.integration

# Endpoints and a valid-looking body for each (a token placeholder where one is needed).
JSON_ENDPOINTS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/email/signup", {"email": "new@example.com", "password": PASSWORD}),
    ("POST", "/email/signin", {"email": "a@example.com", "password": PASSWORD}),
    ("POST", "/email/verify", {"token": "x"}),
    ("POST", "/email/verify/resend", {"email": "a@example.com"}),
    ("POST", "/refresh", {"refreshToken": "x"}),
    ("POST", "/password/reset/request", {"email": "a@example.com"}),
    ("POST", "/password/reset/confirm", {"token": "x", "newPassword": PASSWORD}),
    ("POST", "/password/change", {"currentPassword": PASSWORD, "newPassword": "Other-Secret-77"}),
    ("DELETE", "/withdraw", {"password": PASSWORD}),
]
TEN_MB = b'{"email": "' + b"a" * (10 * 1024 * 1024) + b'"}'


@pytest.fixture
async def api(
    make_settings: SettingsFactory, start_rowgate: Start, start_app: StartApp, http: aiohttp.ClientSession
) -> Api:
    upstream = await start_app(build_demo_app())
    limits = {
        name: {"limit": 10_000, "window": "1h"}
        for name in ("signin", "signup", "reset_request", "verify_resend")
    }
    overrides = {f"auth.rate_limits.{k}": v for k, v in limits.items()}
    settings = make_settings(**{**FAST, **ROUTES, "upstream.url": upstream, **overrides})
    return Api(http, await start_rowgate(settings))


@pytest.fixture
async def token(api: Api) -> str:
    answer = await api.signup("a@example.com")
    return str(answer.body["accessToken"])


def assert_problem(answer: Answer, status: int, code: str | None = None) -> None:
    assert answer.status == status, answer.body
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.body["status"] == status
    if code:
        assert answer.body["code"] == code, answer.body


def bad_bodies(example: dict[str, Any]) -> list[tuple[str, Any, int, str]]:
    """(what, raw body or JSON value, status, code) for one endpoint's example body."""
    first = next(iter(example))
    return [
        ("not JSON", b"{nope", 400, "malformed_body"),
        ("not UTF-8", b'{"a": "\xff"}', 400, "malformed_body"),
        ("empty", b"", 400, "malformed_body"),
        ("NaN", b'{"a": NaN}', 400, "malformed_body"),
        ("an array", [], 422, "validation_failed"),
        ("a string", "text", 422, "validation_failed"),
        ("missing fields", {}, 422, "validation_failed"),
        ("a field missing", {k: v for k, v in example.items() if k != first}, 422, "validation_failed"),
        ("a number for a string", {**example, first: 12}, 422, "validation_failed"),
        ("null for a string", {**example, first: None}, 422, "validation_failed"),
        ("a list for a string", {**example, first: ["x"]}, 422, "validation_failed"),
        ("an unknown field", {**example, "admin": True}, 422, "validation_failed"),
        ("snake_case instead of camelCase", {**example, "some_field": 1}, 422, "validation_failed"),
        ("10 MB", TEN_MB, 413, "payload_too_large"),
    ]


@pytest.mark.parametrize(("method", "path", "example"), JSON_ENDPOINTS, ids=[p for _, p, _ in JSON_ENDPOINTS])
async def test_malformed_bodies_are_4xx_problems_on_every_endpoint(
    api: Api, token: str, method: str, path: str, example: dict[str, Any]
) -> None:
    for what, body, status, code in bad_bodies(example):
        kwargs: dict[str, Any] = {"token": token, "headers": {"Content-Type": "application/json"}}
        if isinstance(body, bytes):
            kwargs["data"] = io.BytesIO(body)
            answer = await api.call(method, path, **kwargs)
        else:
            answer = await api.call(method, path, body, **kwargs)
        assert answer.status == status, (what, answer.body)
        assert_problem(answer, status, code)


@pytest.mark.parametrize(("method", "path", "example"), JSON_ENDPOINTS, ids=[p for _, p, _ in JSON_ENDPOINTS])
async def test_a_wrong_content_type_is_415(
    api: Api, token: str, method: str, path: str, example: dict[str, Any]
) -> None:
    answer = await api.call(
        method, path, token=token, data=b"email=a", headers={"Content-Type": "text/plain"}
    )
    assert_problem(answer, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    ("email", "reason"),
    [
        ("plainaddress", "exactly one @"),
        ("a@b", "domain name"),
        ("a b@example.com", "no spaces"),
        ("p\u0430ypal@example.com", "mixes alphabets"),  # Cyrillic a: a look-alike
        ("user@p\u0430ypal.com", "mixes alphabets"),
        ("x" * 65 + "@example.com", "at most 64"),
        ("a@" + "b" * 300 + ".com", "at most 254"),
    ],
)
async def test_invalid_addresses_are_422_naming_the_field(api: Api, email: str, reason: str) -> None:
    for path in ("/email/signup", "/email/signin", "/password/reset/request", "/email/verify/resend"):
        answer = await api.call("POST", path, {"email": email, "password": PASSWORD})
        if path in ("/password/reset/request", "/email/verify/resend"):
            answer = await api.call("POST", path, {"email": email})
        assert_problem(answer, 422, "invalid_email")
        assert answer.body["errors"][0]["field"] == "email"
        assert reason in answer.body["errors"][0]["message"]


async def test_signup_refuses_a_field_it_does_not_know_naming_it(api: Api) -> None:
    """``org_name`` is not ``orgName``: a 422 naming it, not an organisation with the default name."""
    body = {"email": "new@example.com", "password": PASSWORD, "org_name": "Acme"}
    answer = await api.call("POST", "/email/signup", body)
    assert_problem(answer, 422, "validation_failed")
    assert answer.body["errors"] == [{"field": "org_name", "message": "unknown field"}]
    assert "org_name" in answer.body["detail"]


async def test_fullwidth_look_alikes_are_the_same_account(api: Api) -> None:
    assert (await api.signup("example@example.com")).status == 201
    again = await api.signup("\uff45xample@\uff45xample.com")
    assert_problem(again, 409, "email_taken")
    assert (await api.signin("\uff45XAMPLE@example.COM")).status == 200


async def test_a_ten_thousand_character_password_is_a_422_problem(api: Api, token: str) -> None:
    huge = "Aa1" + "x" * 9997
    assert_problem(await api.signup("b@example.com", huge), 422, "validation_failed")
    assert_problem(await api.signin("a@example.com", huge), 422, "validation_failed")
    change = await api.call(
        "POST", "/password/change", {"currentPassword": PASSWORD, "newPassword": huge}, token=token
    )
    assert_problem(change, 422, "validation_failed")


async def test_weak_passwords_list_every_rule_broken(api: Api) -> None:
    answer = await api.signup("b@example.com", "abc")
    assert_problem(answer, 422, "weak_password")
    assert [e["code"] for e in answer.body["errors"]] == ["too_short", "missing_upper", "missing_digit"]
    assert {e["field"] for e in answer.body["errors"]} == {"password"}
    long_but_policy = await api.signup("b@example.com", "Aa1" + "y" * 1500)
    assert_problem(long_but_policy, 422, "weak_password")
    assert [e["code"] for e in long_but_policy.body["errors"]] == ["too_long"]


async def test_bad_names_are_refused(api: Api) -> None:
    for name in ("", "   ", "a\x00b", "x" * 101, 7):
        answer = await api.signup("b@example.com", name=name)
        assert_problem(answer, 422)


def comparable(answer: Answer) -> tuple[int, Any, dict[str, str]]:
    """Status, body and headers, minus the headers that differ per request anyway."""
    varying = {"date", "x-request-id", "content-length"}
    headers = {k.lower(): v for k, v in answer.headers.items() if k.lower() not in varying}
    return answer.status, answer.body, headers


async def test_signin_answers_alike_for_unknown_addresses_and_wrong_passwords(api: Api) -> None:
    await api.signup("known@example.com")
    hasher = api.server.app[SERVICES].identity.hasher
    before = hasher.dummy_verifications
    wrong = await api.signin("known@example.com", "Wrong-1-Password")
    unknown = await api.signin("unknown@example.com", "Wrong-1-Password")
    assert comparable(wrong) == comparable(unknown)
    assert_problem(wrong, 401, "invalid_credentials")
    assert hasher.dummy_verifications == before + 1  # only the unknown address ran the dummy


async def test_reset_request_answers_alike_for_known_and_unknown_addresses(api: Api) -> None:
    await api.signup("known@example.com")
    known = await api.call("POST", "/password/reset/request", {"email": "known@example.com"})
    unknown = await api.call("POST", "/password/reset/request", {"email": "unknown@example.com"})
    assert comparable(known) == comparable(unknown)
    assert known.status == 202
    resend_known = await api.call("POST", "/email/verify/resend", {"email": "known@example.com"})
    resend_unknown = await api.call("POST", "/email/verify/resend", {"email": "unknown@example.com"})
    assert comparable(resend_known) == comparable(resend_unknown)


async def test_rate_limits_answer_429_with_retry_after(
    make_settings: SettingsFactory, start_rowgate: Start, http: aiohttp.ClientSession
) -> None:
    one = {"limit": 1, "window": "1h"}
    settings = make_settings(
        **FAST,
        **{
            f"auth.rate_limits.{name}": one for name in ("signin", "signup", "reset_request", "verify_resend")
        },
    )
    api = Api(http, await start_rowgate(settings))
    calls = [
        ("/email/signup", {"email": "a@example.com", "password": PASSWORD}),
        ("/email/signin", {"email": "a@example.com", "password": PASSWORD}),
        ("/password/reset/request", {"email": "a@example.com"}),
        ("/email/verify/resend", {"email": "a@example.com"}),
    ]
    for path, body in calls:
        assert (await api.call("POST", path, body)).status < 400
        limited = await api.call("POST", path, body)
        assert_problem(limited, 429, "rate_limited")
        assert 3500 <= int(limited.headers["Retry-After"]) <= 3600
