"""Invitations end to end with the identity flows: the mailed link, accepting by signing in or
signing up (as a signed-in user, with a password, or through rowgate's own link page), single
use, expiry, the invited address only; the token set works like any session's."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web

from rowgate.config import Settings
from rowgate.proxy.appkeys import SERVICES
from rowgate.proxy.demo import build_demo_app
from tests.conftest import RunningServer, SettingsFactory
from tests.proxy.authkit import FAST, PASSWORD, Api, delivered, link_of, token_of

pytestmark = pytest.mark.integration

Start = Callable[[Settings], Awaitable[RunningServer]]
StartApp = Callable[[web.Application], Awaitable[str]]
SUBJECT = "invited you to join"


@pytest.fixture
async def api(
    make_settings: SettingsFactory, start_rowgate: Start, start_app: StartApp, http: aiohttp.ClientSession
) -> Api:
    upstream = await start_app(build_demo_app())
    rules = [{"path": "/api/**", "level": "authenticated"}]
    server = await start_rowgate(make_settings(**FAST, **{"upstream.url": upstream, "routes.rules": rules}))
    return Api(http, server)


async def signed_up(api: Api, email: str, **extra: Any) -> dict[str, Any]:
    answer = await api.signup(email, **extra)
    assert answer.status == 201, answer.body
    return dict(answer.body)


async def invite(api: Api, admin: dict[str, Any], email: str, role: str = "member", count: int = 1) -> str:
    """Invite ``email``; the token from the (``count``-th) mail it was sent."""
    answer = await api.call(
        "POST", "/invitations", {"email": email, "role": role}, token=admin["accessToken"]
    )
    assert answer.status == 201, answer.body
    mails = await delivered(api.server, email.lower(), SUBJECT, count)
    return token_of(mails[-1])


async def identity(api: Api, token: str) -> dict[str, Any]:
    async with api.http.get(
        f"{api.server.url}/api/whoami", headers={"Authorization": f"Bearer {token}"}
    ) as r:
        assert r.status == 200
        return dict((await r.json())["identity"])


async def orgs(api: Api, token: str) -> list[str]:
    answer = await api.call("GET", "/orgs", token=token)
    return [org["name"] for org in answer.body["orgs"]]


async def test_a_signed_in_invitee_accepts_and_gets_a_session_in_the_organisation(api: Api) -> None:
    admin = await signed_up(api, "ada@example.com", org_name="Acme")
    token = await invite(api, admin, "Bob@Example.com")
    (mail,) = await delivered(api.server, "bob@example.com", SUBJECT)
    assert "Acme" in str(mail["Subject"])
    public_url = api.server.app[SERVICES].settings.public_url
    assert link_of(mail).startswith(f"{public_url}/v1/auth/invitations/accept?token=")

    bob = await signed_up(api, "bob@example.com")  # his own organisation, as every signup
    accepted = await api.call("POST", "/invitations/accept", {"token": token}, token=bob["accessToken"])
    assert accepted.status == 200, accepted.body
    assert accepted.headers["Cache-Control"].startswith("no-store")
    assert (accepted.body["org"]["name"], accepted.body["org"]["role"]) == ("Acme", "member")
    assert {"accessToken", "refreshToken", "idToken", "sessionId"} <= accepted.body.keys()
    seen = await identity(api, accepted.body["accessToken"])
    assert (seen["X-Rowgate-Org-Id"], seen["X-Rowgate-Role"]) == (accepted.body["org"]["id"], "member")

    refreshed = await api.call("POST", "/refresh", {"refreshToken": accepted.body["refreshToken"]})
    assert refreshed.status == 200, refreshed.body
    assert (await identity(api, refreshed.body["accessToken"]))["X-Rowgate-Org-Id"] == accepted.body["org"][
        "id"
    ]

    reused = await api.call("POST", "/invitations/accept", {"token": token}, token=bob["accessToken"])
    assert (reused.status, reused.code) == (409, "invitation_used")


async def test_another_account_cannot_accept(api: Api) -> None:
    admin = await signed_up(api, "ada@example.com")
    token = await invite(api, admin, "bob@example.com")
    mallory = await signed_up(api, "mallory@example.com")
    refused = await api.call("POST", "/invitations/accept", {"token": token}, token=mallory["accessToken"])
    assert (refused.status, refused.code) == (403, "invitation_email_mismatch")
    listed = await api.call("GET", "/invitations", token=admin["accessToken"])
    assert [i["email"] for i in listed.body["invitations"]] == ["bob@example.com"]  # still open


async def test_an_expired_link_is_refused(api: Api) -> None:
    admin = await signed_up(api, "ada@example.com")
    token = await invite(api, admin, "carol@example.com")
    await api.server.app[SERVICES].db.execute(
        "UPDATE rowgate.invitations SET expires_at = now() - interval '1 second'"
    )
    carol = await signed_up(api, "carol@example.com")
    expired = await api.call("POST", "/invitations/accept", {"token": token}, token=carol["accessToken"])
    assert (expired.status, expired.code) == (409, "invitation_expired")


async def test_accepting_with_a_password_creates_the_account_in_the_organisation_only(api: Api) -> None:
    admin = await signed_up(api, "ada@example.com", org_name="Acme")
    token = await invite(api, admin, "dan@example.com", role="viewer")
    weak = await api.call("POST", "/invitations/accept", {"token": token, "password": "short"})
    assert (weak.status, weak.code) == (422, "weak_password")
    joined = await api.call(
        "POST", "/invitations/accept", {"token": token, "password": PASSWORD, "name": "Dan"}
    )
    assert joined.status == 200, joined.body
    assert joined.body["org"]["role"] == "viewer"
    assert await orgs(api, joined.body["accessToken"]) == ["Acme"]  # no organisation of his own
    me = await api.call("GET", "/me", token=joined.body["accessToken"])
    assert me.body["user"]["emailVerified"] is True
    assert (await api.signin("dan@example.com")).status == 200


async def test_accepting_with_a_password_signs_in_to_an_existing_account(api: Api) -> None:
    admin = await signed_up(api, "ada@example.com", org_name="Acme")
    erin = await signed_up(api, "erin@example.com", org_name="Erin's")
    token = await invite(api, admin, "erin@example.com")
    wrong = await api.call("POST", "/invitations/accept", {"token": token, "password": "Wrong-Horse-42"})
    assert (wrong.status, wrong.code) == (401, "invalid_credentials")
    joined = await api.call("POST", "/invitations/accept", {"token": token, "password": PASSWORD})
    assert joined.status == 200, joined.body
    assert sorted(await orgs(api, joined.body["accessToken"])) == ["Acme", "Erin's"]
    sessions = await api.call("GET", "/sessions", token=joined.body["accessToken"])
    assert len(sessions.body["sessions"]) == 2  # signup's, and the new one (sign-in's own ended)
    assert (await identity(api, erin["accessToken"]))["X-Rowgate-Org-Id"] != joined.body["org"]["id"]


async def test_the_link_page_shows_the_invitation_and_its_form_joins(api: Api) -> None:
    admin = await signed_up(api, "ada@example.com", org_name="Acme <Labs>")
    await invite(api, admin, "fay@example.com")
    (mail,) = await delivered(api.server, "fay@example.com", SUBJECT)
    parts = urlsplit(link_of(mail))  # the configured public URL; tests listen on another port
    link = f"{api.server.url}{parts.path}?{parts.query}"
    for _ in range(2):  # opening the link (a mail scanner, then the person) changes nothing
        async with api.http.get(link) as page:
            text = await page.text()
            assert page.status == 200
            assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
            assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "Acme &lt;Labs&gt;" in text
    assert "<Labs>" not in text
    token = token_of(mail)
    form = {"token": token, "password": PASSWORD, "name": "Fay"}
    async with api.http.post(f"{api.server.url}/v1/auth/invitations/accept", data=form) as done:
        assert done.status == 200
        assert "You joined Acme &lt;Labs&gt; as member" in await done.text()
    async with api.http.post(f"{api.server.url}/v1/auth/invitations/accept", data=form) as again:
        assert again.status == 409
    async with api.http.get(link) as used:
        assert used.status == 409


async def test_admins_list_and_revoke_invitations_and_inviting_again_replaces_the_link(api: Api) -> None:
    admin = await signed_up(api, "ada@example.com")
    first = await invite(api, admin, "gus@example.com")
    second = await invite(api, admin, "gus@example.com", role="viewer", count=2)
    listed = await api.call("GET", "/invitations", token=admin["accessToken"])
    (open_one,) = listed.body["invitations"]
    assert (open_one["email"], open_one["role"]) == ("gus@example.com", "viewer")
    gus = await signed_up(api, "gus@example.com")
    replaced = await api.call("POST", "/invitations/accept", {"token": first}, token=gus["accessToken"])
    assert (replaced.status, replaced.code) == (409, "invitation_revoked")
    revoked = await api.call("DELETE", f"/invitations/{open_one['id']}", token=admin["accessToken"])
    assert revoked.status == 204
    gone = await api.call("POST", "/invitations/accept", {"token": second}, token=gus["accessToken"])
    assert (gone.status, gone.code) == (409, "invitation_revoked")
    assert (await api.call("GET", "/invitations", token=admin["accessToken"])).body["invitations"] == []


@pytest.mark.parametrize(
    ("body", "bearer", "status"),
    [
        ({"token": "x"}, False, 422),  # neither signed in nor a password
        ({"token": "x", "password": PASSWORD}, True, 422),  # both
        ({"token": ""}, True, 422),
        ({"token": "x" * 600}, True, 422),
        ({"token": 5}, True, 422),
        ({"token": "nope"}, True, 404),
        ({"token": "nope", "password": PASSWORD}, False, 404),
    ],
)
async def test_bad_accepts_are_4xx(api: Api, body: Any, bearer: bool, status: int) -> None:
    someone = await signed_up(api, "hal@example.com")
    answer = await api.call(
        "POST", "/invitations/accept", body, token=someone["accessToken"] if bearer else None
    )
    assert answer.status == status, answer.body
