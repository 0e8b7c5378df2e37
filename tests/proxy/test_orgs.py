"""A user's organisations over HTTP: list, create, switch the active one."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from rowgate.config import Settings
from rowgate.proxy.demo import build_demo_app
from tests.conftest import RunningServer, SettingsFactory
from tests.tenancykit import Member, Tenancy

pytestmark = pytest.mark.integration

Start = Callable[[Settings], Awaitable[RunningServer]]
StartApp = Callable[[web.Application], Awaitable[str]]


@pytest.fixture
async def t(
    make_settings: SettingsFactory, start_rowgate: Start, start_app: StartApp, http: aiohttp.ClientSession
) -> Tenancy:
    upstream = await start_app(build_demo_app())
    rules = [{"path": "/api/**", "level": "authenticated"}]
    return Tenancy(
        await start_rowgate(make_settings(**{"upstream.url": upstream, "routes.rules": rules})), http
    )


async def two_orgs(t: Tenancy) -> tuple[Member, str]:
    """A user who is admin of one organisation and viewer of another; signed in to the first."""
    user = await t.member()
    other = await t.org("Globex")
    await t.join(other, user.user_id, "viewer")
    return user, other


async def test_switching_issues_tokens_for_the_other_organisation_and_ends_the_old_session(
    t: Tenancy,
) -> None:
    user, other = await two_orgs(t)
    answer = await t.call("POST", "/v1/auth/switch-org", user, json={"orgId": other})
    assert answer.status == 200, answer.body
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.body["org"] == {"id": other, "name": "Globex", "role": "viewer"}
    switched = Member(
        user.user_id, user.email, other, "viewer", answer.body["sessionId"], answer.body["accessToken"]
    )
    whoami = await t.call("GET", "/api/whoami", switched)
    assert whoami.status == 200
    assert whoami.body["identity"]["X-Rowgate-Org-Id"] == other
    assert whoami.body["identity"]["X-Rowgate-Role"] == "viewer"
    old = await t.call("GET", "/api/whoami", user)
    assert (old.status, old.body["code"]) == (401, "token_revoked")
    assert await t.audit(other, "org.switched")

    # A full token set: the refresh token renews the session in the organisation switched to.
    assert {"refreshToken", "idToken", "expiresIn"} <= answer.body.keys()
    refreshed = await t.call("POST", "/v1/auth/refresh", json={"refreshToken": answer.body["refreshToken"]})
    assert refreshed.status == 200, refreshed.body
    renewed = Member(
        user.user_id, user.email, other, "viewer", switched.session_id, refreshed.body["accessToken"]
    )
    assert (await t.call("GET", "/api/whoami", renewed)).body["identity"]["X-Rowgate-Org-Id"] == other


async def test_switching_opens_the_new_session_as_a_sign_in_does(t: Tenancy) -> None:
    """The same audit record as a password sign-in: the new session, its organisation, its device."""
    user, other = await two_orgs(t)
    firefox = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"}
    answer = await t.call("POST", "/v1/auth/switch-org", user, json={"orgId": other}, headers=firefox)
    assert answer.status == 200, answer.body
    (event,) = await t.db.fetch(
        "SELECT user_id::text, org_id::text, user_agent, details::text FROM rowgate.audit_events "
        "WHERE event = 'signin.succeeded' AND session_id = $1",
        answer.body["sessionId"],
    )
    assert {**event, "details": json.loads(event["details"])} == {
        "user_id": user.user_id,
        "org_id": other,
        "user_agent": firefox["User-Agent"],
        "details": {"method": "password", "device": "Firefox on Linux"},
    }


async def test_switching_to_an_organisation_one_is_not_in_is_404(t: Tenancy) -> None:
    user, _ = await two_orgs(t)
    stranger = await t.member()  # an organisation that exists, with someone else in it
    for org in (stranger.org_id, "00000000-0000-0000-0000-000000000000", "not-an-id"):
        answer = await t.call("POST", "/v1/auth/switch-org", user, json={"orgId": org})
        assert (answer.status, answer.body["code"]) == (404, "org_not_found"), org
    assert (await t.call("GET", "/api/whoami", user)).status == 200  # a refused switch ends nothing


async def test_switching_to_an_organisation_the_user_left_is_404(t: Tenancy) -> None:
    user, other = await two_orgs(t)
    back = await t.call("POST", "/v1/auth/switch-org", user, json={"orgId": other})
    in_other = Member(
        user.user_id, user.email, other, "viewer", back.body["sessionId"], back.body["accessToken"]
    )
    left = await t.call("DELETE", f"/v1/auth/members/{user.user_id}", in_other)
    assert left.status == 204
    fresh = await t.sign_in(user.user_id, user.email, user.org_id, "admin")
    answer = await t.call("POST", "/v1/auth/switch-org", fresh, json={"orgId": other})
    assert (answer.status, answer.body["code"]) == (404, "org_not_found")


async def test_listing_and_creating_organisations(t: Tenancy) -> None:
    user, other = await two_orgs(t)
    listed = await t.call("GET", "/v1/auth/orgs", user)
    assert [(o["id"], o["role"]) for o in listed.body["orgs"]] == [(user.org_id, "admin"), (other, "viewer")]
    created = await t.call("POST", "/v1/auth/orgs", user, json={"name": "Initech"})
    assert created.status == 201
    assert (created.body["name"], created.body["role"]) == ("Initech", "admin")
    assert len((await t.call("GET", "/v1/auth/orgs", user)).body["orgs"]) == 3
    switched = await t.call("POST", "/v1/auth/switch-org", user, json={"orgId": created.body["id"]})
    assert switched.status == 200


async def test_bad_bodies_and_callers(t: Tenancy) -> None:
    user, _ = await two_orgs(t)
    for body in ({}, {"orgId": 5}, {"orgId": None}, {"orgId": "x", "role": "admin"}):
        assert (await t.call("POST", "/v1/auth/switch-org", user, json=body)).status == 422, body
    assert (await t.call("POST", "/v1/auth/orgs", user, json={"name": ""})).status == 422
    assert (await t.call("POST", "/v1/auth/switch-org", json={"orgId": user.org_id})).status == 401
