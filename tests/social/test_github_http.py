"""Sign-in with GitHub's OAuth 2.0, against a local stand-in (not GitHub) of the endpoints rowgate
calls: the token endpoint, ``GET /user`` and ``GET /user/emails``, in GitHub's shapes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from rowgate.proxy.appkeys import SERVICES
from tests.conftest import RunningServer, SettingsFactory
from tests.proxy.authkit import FAST, Api, StartApp
from tests.social.providerkit import (
    APP,
    CLIENT_ID,
    CLIENT_SECRET,
    SECRET_ENV,
    Browser,
    Rowgate,
    code_of,
    github_stand_in,
    redirect_params,
)

pytestmark = pytest.mark.integration
USERS = {
    "code-ada": {
        "id": 101,
        "name": "Ada",
        "emails": [
            {"email": "ada-old@example.com", "primary": False, "verified": True},
            {"email": "ada@example.com", "primary": True, "verified": True},
        ],
    },
    "code-eve": {
        "id": 102,
        "name": "Eve",
        "emails": [{"email": "eve@example.com", "primary": True, "verified": False}],
    },
}


@pytest.fixture
async def stand_in(start_app: StartApp) -> str:
    return await start_app(github_stand_in(USERS))


@pytest.fixture
async def server(
    make_settings: SettingsFactory, stand_in: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RunningServer]:
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    rowgate = Rowgate()
    github = {
        "kind": "github",
        "client_id": CLIENT_ID,
        "client_secret_env": SECRET_ENV,
        "authorize_url": f"{stand_in}/login/oauth/authorize",
        "token_url": f"{stand_in}/login/oauth/access_token",
        "api_url": stand_in,
    }
    settings = make_settings(
        **{
            **FAST,
            "server.public_url": rowgate.url,
            "auth.callback_urls": [APP],
            "auth.providers": {"github": github},
        }
    )
    yield await rowgate.start(settings)
    await rowgate.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with Browser.open() as opened:
        yield opened


async def github_callback(
    browser: Browser, server: RunningServer, code: str, **query: str
) -> tuple[int, str, Any]:
    """Start at rowgate, then come back as GitHub would after the user approved."""
    start = await browser.authorize(server.url, "github", callbackUrl=APP, **query)
    sent = redirect_params(start)
    assert sent["code_challenge_method"] == "S256"
    assert sent["redirect_uri"] == f"{server.url}/v1/auth/github/callback"
    return await browser.open_callback(
        f"{server.url}/v1/auth/github/callback?code={code}&state={sent['state']}"
    )


async def test_github_signs_in_with_its_primary_verified_address(
    server: RunningServer, browser: Browser, http: aiohttp.ClientSession
) -> None:
    status, location, _ = await github_callback(browser, server, "code-ada")
    assert status == 303
    api = Api(http, server)
    tokens = await api.call("POST", "/token/exchange", {"code": code_of(location)})
    me = await api.call("GET", "/me", token=tokens.body["accessToken"])
    assert me.body["user"]["email"] == "ada@example.com"
    row = await server.app[SERVICES].db.fetchrow("SELECT provider, subject FROM rowgate.linked_accounts")
    assert row is not None
    assert (row["provider"], row["subject"]) == ("github", "101")
    assert await server.app[SERVICES].db.fetchval("SELECT amr FROM rowgate.sessions") == ["github"]


async def test_an_unverified_github_address_is_refused(server: RunningServer, browser: Browser) -> None:
    status, location, _ = await github_callback(browser, server, "code-eve")
    assert (status, redirect_params(location)) == (303, {"error": "provider_email_unverified"})


async def test_a_code_github_refuses_goes_back_as_an_error(server: RunningServer, browser: Browser) -> None:
    status, location, _ = await github_callback(browser, server, "code-unknown")
    assert (status, redirect_params(location)) == (303, {"error": "provider_failed"})


async def test_unlinking_keeps_another_way_to_sign_in(
    server: RunningServer, browser: Browser, http: aiohttp.ClientSession
) -> None:
    api = Api(http, server)
    signup = await api.signup("ada@example.com")
    token = signup.body["accessToken"]
    start = await api.call("POST", "/accounts", {"provider": "github", "callbackUrl": APP}, token=token)
    async with browser.http.get(start.body["authorizeUrl"], allow_redirects=False) as response:
        state = redirect_params(response.headers["Location"])["state"]
    status, location, _ = await browser.open_callback(
        f"{server.url}/v1/auth/github/callback?code=code-ada&state={state}"
    )
    assert (status, redirect_params(location)) == (303, {"linked": "github"})
    listed = await api.call("GET", "/accounts", token=token)
    assert [a["provider"] for a in listed.body["accounts"]] == ["github"]
    assert listed.body["hasPassword"] is True
    assert (await api.call("DELETE", "/accounts/github", token=token)).status == 204
    assert (await api.call("GET", "/accounts", token=token)).body["accounts"] == []
