"""Every identity flow end to end over HTTP, against real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from rowgate.proxy.appkeys import SERVICES
from rowgate.proxy.demo import build_demo_app
from tests.conftest import SettingsFactory
from tests.proxy.authkit import (
    FAST,
    PASSWORD,
    ROUTES,
    Api,
    Start,
    StartApp,
    delivered,
    link_of,
    token_of,
)

pytestmark = pytest.mark.integration
NEW_PASSWORD = "Brand-New-Secret-9"


@pytest.fixture
async def upstream(start_app: StartApp) -> str:
    return await start_app(build_demo_app())


@pytest.fixture
def settings_for(make_settings: SettingsFactory, upstream: str) -> Any:
    def make(**overrides: Any) -> Any:
        return make_settings(**{**FAST, **ROUTES, "upstream.url": upstream, **overrides})

    return make


@pytest.fixture
async def api(settings_for: Any, start_rowgate: Start, http: aiohttp.ClientSession) -> Api:
    return Api(http, await start_rowgate(settings_for()))


async def test_signup_answers_tokens_that_open_me_and_the_upstream(api: Api) -> None:
    answer = await api.signup(" Ada@Example.com ", name="Ada Lovelace", orgName="Analytical Engines")
    assert answer.status == 201
    assert answer.headers["Cache-Control"] == "no-store"
    tokens = answer.body
    assert set(tokens) == {"accessToken", "tokenType", "expiresIn", "refreshToken", "idToken", "sessionId"}
    assert (tokens["tokenType"], tokens["expiresIn"]) == ("Bearer", 900)
    me = await api.call("GET", "/me", token=tokens["accessToken"])
    assert me.status == 200
    assert me.body["user"]["email"] == "ada@example.com"
    assert me.body["user"]["name"] == "Ada Lovelace"
    assert me.body["user"]["emailVerified"] is False
    assert set(me.body["user"]) == {"id", "email", "emailVerified", "name", "createdAt"}
    assert me.body["org"]["name"] == "Analytical Engines"
    assert me.body["org"]["role"] == "admin"
    assert me.body["sessionId"] == tokens["sessionId"]
    assert await api.whoami(tokens["accessToken"]) == 200
    # A verification link is on its way; using it marks the address verified.
    (mail,) = await delivered(api.server, "ada@example.com", "Confirm")
    assert (await api.call("POST", "/email/verify", {"token": token_of(mail)})).status == 200
    me = await api.call("GET", "/me", token=tokens["accessToken"])
    assert me.body["user"]["emailVerified"] is True


async def test_signin_and_refresh_rotation_with_reuse_detection(api: Api) -> None:
    await api.signup("a@example.com")
    signed_in = await api.signin("A@EXAMPLE.COM")
    assert signed_in.status == 200
    first = signed_in.body
    renewed = await api.call("POST", "/refresh", {"refreshToken": first["refreshToken"]})
    assert renewed.status == 200
    assert renewed.body["sessionId"] == first["sessionId"]
    assert renewed.body["refreshToken"] != first["refreshToken"]
    # Simulate the replay arriving after the reuse interval.
    db = api.server.app[SERVICES].db
    await db.execute("UPDATE rowgate.refresh_tokens SET used_at = used_at - interval '1 minute'")
    replay = await api.call("POST", "/refresh", {"refreshToken": first["refreshToken"]})
    assert (replay.status, replay.code) == (401, "refresh_token_reused")
    # The whole session is gone: the successor, and every access token, at once.
    successor = await api.call("POST", "/refresh", {"refreshToken": renewed.body["refreshToken"]})
    assert (successor.status, successor.code) == (401, "session_revoked")
    for access in (first["accessToken"], renewed.body["accessToken"]):
        me = await api.call("GET", "/me", token=access)
        assert (me.status, me.code) == (401, "token_revoked")
        assert await api.whoami(access) == 401


async def test_signout_makes_the_access_token_fail_at_once_on_every_instance(
    settings_for: Any, start_rowgate: Start, http: aiohttp.ClientSession
) -> None:
    settings = settings_for()
    one = Api(http, await start_rowgate(settings))
    two = Api(http, await start_rowgate(settings))
    tokens = (await one.signup("a@example.com")).body
    assert await two.whoami(tokens["accessToken"]) == 200  # cached as valid on the second instance
    out = await one.call("POST", "/signout", token=tokens["accessToken"])
    assert out.status == 204
    for api in (one, two):
        assert await api.whoami(tokens["accessToken"]) == 401
        assert (await api.call("GET", "/me", token=tokens["accessToken"])).code == "token_revoked"
    refreshed = await two.call("POST", "/refresh", {"refreshToken": tokens["refreshToken"]})
    assert refreshed.code == "session_revoked"


async def test_sessions_list_revoke_one_and_revoke_others(api: Api, http: aiohttp.ClientSession) -> None:
    laptop = (await api.signup("a@example.com")).body
    phone_agent = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Version/17.0 Safari/604.1"}
    phone = (
        await api.call(
            "POST", "/email/signin", {"email": "a@example.com", "password": PASSWORD}, headers=phone_agent
        )
    ).body
    tablet = (await api.signin("a@example.com")).body
    listed = await api.call("GET", "/sessions", token=phone["accessToken"])
    assert listed.status == 200
    by_id = {s["id"]: s for s in listed.body["sessions"]}
    assert set(by_id) == {laptop["sessionId"], phone["sessionId"], tablet["sessionId"]}
    assert [s["id"] for s in listed.body["sessions"] if s["current"]] == [phone["sessionId"]]
    assert by_id[phone["sessionId"]]["device"] == "Safari on iPhone"
    assert by_id[laptop["sessionId"]]["device"] == "Firefox on Linux"
    assert by_id[laptop["sessionId"]]["ip"] == "127.0.0.1"
    gone = await api.call("DELETE", f"/sessions/{laptop['sessionId']}", token=phone["accessToken"])
    assert gone.status == 204
    assert await api.whoami(laptop["accessToken"]) == 401
    others = await api.call("DELETE", "/sessions", token=phone["accessToken"])
    assert (others.status, others.body) == (200, {"revoked": 1})
    assert await api.whoami(tablet["accessToken"]) == 401
    assert await api.whoami(phone["accessToken"]) == 200


async def test_other_users_sessions_are_404(api: Api) -> None:
    mine = (await api.signup("me@example.com")).body
    theirs = (await api.signup("them@example.com")).body
    for session_id in (theirs["sessionId"], "not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        answer = await api.call("DELETE", f"/sessions/{session_id}", token=mine["accessToken"])
        assert (answer.status, answer.code) == (404, "session_not_found")
    assert await api.whoami(theirs["accessToken"]) == 200


async def test_session_endpoints_need_a_signed_in_user(api: Api) -> None:
    for method, path in (("GET", "/me"), ("GET", "/sessions"), ("POST", "/signout"), ("DELETE", "/sessions")):
        answer = await api.call(method, path)
        assert (answer.status, answer.headers["Content-Type"]) == (401, "application/problem+json")
        bad = await api.call(method, path, token="not.a.token")
        assert bad.status == 401


async def test_password_reset_by_mail_revokes_every_session_at_once(api: Api) -> None:
    first = (await api.signup("a@example.com")).body
    second = (await api.signin("a@example.com")).body
    requested = await api.call("POST", "/password/reset/request", {"email": "a@example.com"})
    assert requested.status == 202
    (mail,) = await delivered(api.server, "a@example.com", "Reset")
    confirmed = await api.call(
        "POST", "/password/reset/confirm", {"token": token_of(mail), "newPassword": NEW_PASSWORD}
    )
    assert confirmed.status == 204
    for tokens in (first, second):
        assert await api.whoami(tokens["accessToken"]) == 401
        assert (await api.call("POST", "/refresh", {"refreshToken": tokens["refreshToken"]})).status == 401
    assert (await api.signin("a@example.com")).status == 401
    assert (await api.signin("a@example.com", NEW_PASSWORD)).status == 200
    again = await api.call(
        "POST", "/password/reset/confirm", {"token": token_of(mail), "newPassword": "Other-Secret-77"}
    )
    assert (again.status, again.code) == (400, "invalid_reset_token")


async def test_password_reset_through_the_link_page(api: Api, http: aiohttp.ClientSession) -> None:
    await api.signup("a@example.com")
    await api.call("POST", "/password/reset/request", {"email": "a@example.com"})
    (mail,) = await delivered(api.server, "a@example.com", "Reset")
    link = urlsplit(link_of(mail))
    page_url = f"{api.server.url}{link.path}?{link.query}"
    async with http.get(page_url) as page:
        assert page.status == 200
        assert page.headers["Content-Type"].startswith("text/html")
        assert "default-src 'none'" in page.headers["Content-Security-Policy"]
        assert page.headers["Referrer-Policy"] == "no-referrer"
        assert 'name="newPassword"' in await page.text()
    confirm_url = f"{api.server.url}/v1/auth/password/reset/confirm"
    form = {"token": token_of(mail), "newPassword": "short"}
    async with http.post(confirm_url, data=form) as weak:
        assert weak.status == 422
        assert "at least 8 characters" in await weak.text()
    form["newPassword"] = NEW_PASSWORD
    async with http.post(confirm_url, data=form) as done:
        assert done.status == 200
        assert "Password changed" in await done.text()
    assert (await api.signin("a@example.com", NEW_PASSWORD)).status == 200


async def test_verification_required_signup_link_page_and_api(
    settings_for: Any, start_rowgate: Start, http: aiohttp.ClientSession
) -> None:
    api = Api(http, await start_rowgate(settings_for(**{"auth.require_email_verification": True})))
    answer = await api.signup("v@example.com")
    assert answer.status == 202
    assert "accessToken" not in answer.body
    refused = await api.signin("v@example.com")
    assert (refused.status, refused.code) == (403, "email_not_verified")
    (mail,) = await delivered(api.server, "v@example.com", "Confirm")
    link = urlsplit(link_of(mail))
    assert link.path == "/v1/auth/email/verify"
    async with http.get(f"{api.server.url}{link.path}?{link.query}") as page:
        assert page.status == 200
        assert "Confirm my email address" in await page.text()
    assert (await api.signin("v@example.com")).status == 403  # opening the page changed nothing
    async with http.post(f"{api.server.url}{link.path}", data={"token": token_of(mail)}) as done:
        assert done.status == 200
        assert "confirmed" in await done.text()
    assert (await api.signin("v@example.com")).status == 200
    # The JSON form, for apps with their own page; a used link is a 400 problem.
    reused = await api.call("POST", "/email/verify", {"token": token_of(mail)})
    assert (reused.status, reused.code) == (400, "invalid_verification_token")
    await api.signup("w@example.com")
    (first,) = await delivered(api.server, "w@example.com", "Confirm")
    resent = await api.call("POST", "/email/verify/resend", {"email": "w@example.com"})
    assert resent.status == 202
    both = await delivered(api.server, "w@example.com", "Confirm", count=2)
    (newest,) = [m for m in both if token_of(m) != token_of(first)]
    ok = await api.call("POST", "/email/verify", {"token": token_of(newest)})
    assert (ok.status, ok.body) == (200, {"emailVerified": True})


async def test_change_password_keeps_this_session_and_ends_the_others(api: Api) -> None:
    current = (await api.signup("a@example.com")).body
    other = (await api.signin("a@example.com")).body
    wrong = await api.call(
        "POST",
        "/password/change",
        {"currentPassword": "Wrong-1-Password", "newPassword": NEW_PASSWORD},
        token=current["accessToken"],
    )
    assert (wrong.status, wrong.code) == (403, "wrong_password")
    changed = await api.call(
        "POST",
        "/password/change",
        {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
        token=current["accessToken"],
    )
    assert (changed.status, changed.body) == (200, {"passwordChanged": True, "sessionsRevoked": 1})
    assert await api.whoami(current["accessToken"]) == 200
    assert await api.whoami(other["accessToken"]) == 401
    notices = await delivered(api.server, "a@example.com", "changed")
    assert [str(m["Subject"]) for m in notices] == ["Your rowgate password was changed"]


async def test_withdraw_deletes_the_account_and_its_tokens_stop_working(api: Api) -> None:
    tokens = (await api.signup("a@example.com")).body
    wrong = await api.call("DELETE", "/withdraw", {"password": "nope"}, token=tokens["accessToken"])
    assert (wrong.status, wrong.code) == (403, "wrong_password")
    gone = await api.call("DELETE", "/withdraw", {"password": PASSWORD}, token=tokens["accessToken"])
    assert gone.status == 204
    assert await api.whoami(tokens["accessToken"]) == 401
    assert (await api.signin("a@example.com")).status == 401
    db = api.server.app[SERVICES].db
    assert await db.fetchval("SELECT count(*) FROM rowgate.orgs") == 0
    assert (await api.signup("a@example.com")).status == 201  # the address is free again


async def test_one_hundred_concurrent_signups_over_http_create_one_user(
    settings_for: Any, start_rowgate: Start, http: aiohttp.ClientSession
) -> None:
    api = Api(
        http,
        await start_rowgate(settings_for(**{"auth.rate_limits.signup": {"limit": 1000, "window": "1h"}})),
    )
    answers = await asyncio.gather(*(api.signup("race@example.com") for _ in range(100)))
    assert sorted({a.status for a in answers}) == [201, 409]
    assert [a.status for a in answers].count(201) == 1
    assert {a.code for a in answers if a.status == 409} == {"email_taken"}
    assert await api.server.app[SERVICES].db.fetchval("SELECT count(*) FROM rowgate.users") == 1


async def test_lockout_answers_429_with_retry_after_and_expires(
    settings_for: Any, start_rowgate: Start, http: aiohttp.ClientSession
) -> None:
    lockout = {"threshold": 2, "base_delay": "1s", "max_delay": "10s", "window": "1h"}
    api = Api(http, await start_rowgate(settings_for(**{"auth.lockout.account": lockout})))
    await api.signup("a@example.com")
    for _ in range(2):
        assert (await api.signin("a@example.com", "Wrong-1-Password")).status == 401
    locked = await api.signin("a@example.com")
    assert (locked.status, locked.code) == (429, "account_locked")
    assert locked.headers["Retry-After"] == "1"
    assert locked.body["retryAfter"] == 1
    # A locked account can still ask for a reset, and that answer does not change.
    assert (await api.call("POST", "/password/reset/request", {"email": "a@example.com"})).status == 202
    await asyncio.sleep(1.1)
    assert (await api.signin("a@example.com")).status == 200


async def test_lockout_holds_across_instances(
    settings_for: Any, start_rowgate: Start, http: aiohttp.ClientSession
) -> None:
    settings = settings_for(**{"auth.lockout.account": {"threshold": 3}})
    one = Api(http, await start_rowgate(settings))
    two = Api(http, await start_rowgate(settings))
    await one.signup("a@example.com")
    for api in (one, two, one):
        assert (await api.signin("a@example.com", "Wrong-1-Password")).status == 401
    for api in (one, two):
        locked = await api.signin("a@example.com")
        assert (locked.status, locked.code) == (429, "account_locked")


async def test_with_verification_required_signup_tells_nothing_about_taken_addresses(
    settings_for: Any, start_rowgate: Start, http: aiohttp.ClientSession
) -> None:
    api = Api(http, await start_rowgate(settings_for(**{"auth.require_email_verification": True})))
    new = await api.signup("fresh@example.com")
    assert (await api.signup("taken@example.com")).status == 202
    taken = await api.signup("taken@example.com", "Another-Password-8")
    assert (taken.status, taken.body) == (new.status, new.body) == (202, new.body)
    assert taken.headers["Content-Type"] == new.headers["Content-Type"]
    # The owner hears of it, with a link to choose a new password that works.
    (warning,) = await delivered(api.server, "taken@example.com", "Someone tried")
    token = token_of(warning)
    reset = await api.call(
        "POST", "/password/reset/confirm", {"token": token, "newPassword": "Chosen-Anew-77"}
    )
    assert reset.status == 204, reset.body
    assert (await api.signin("taken@example.com", "Chosen-Anew-77")).status == 200
