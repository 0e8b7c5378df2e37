"""Sign-in with an OpenID Connect provider, end to end: rowgate against node-oidc-provider.

The whole authorization code flow with PKCE, state and nonce runs over HTTP: rowgate redirects to
the provider, the provider's own login and consent pages are filled in, the provider redirects to
rowgate's callback, rowgate redeems the code and verifies the ID token with the provider's
published keys, and the application exchanges its single-use code for tokens.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from rowgate.proxy.appkeys import SERVICES
from tests.auth.mail.smtpkit import free_port
from tests.conftest import RunningServer, SettingsFactory
from tests.proxy.authkit import FAST, PASSWORD, Api
from tests.social.providerkit import (
    APP,
    CLIENT_ID,
    CLIENT_SECRET,
    SECRET_ENV,
    Browser,
    Rowgate,
    code_of,
    oidc_provider,
    redirect_params,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def rowgate_port() -> int:
    """The port of every test's rowgate in this module (the provider knows its callback URL)."""
    return free_port()


@pytest.fixture(scope="module")
def issuer(rowgate_port: int) -> Iterator[str]:
    """One provider for the module's tests (starting node-oidc-provider takes seconds): what it
    keeps between them is per browser (sessions, grants, codes), and every test has a browser of
    its own."""
    with oidc_provider(free_port(), Rowgate(rowgate_port).callback("acme")) as url:
        yield url


@pytest.fixture
async def rowgate(monkeypatch: pytest.MonkeyPatch, rowgate_port: int) -> AsyncIterator[Rowgate]:
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    running = Rowgate(rowgate_port)
    yield running
    await running.stop()


def provider_settings(discovery: str) -> dict[str, Any]:
    return {
        "kind": "oidc",
        "discovery_url": discovery,
        "client_id": CLIENT_ID,
        "client_secret_env": SECRET_ENV,
    }


@pytest.fixture
def settings_for(make_settings: SettingsFactory, rowgate: Rowgate, issuer: str) -> Any:
    def make(discovery: str | None = None, **overrides: Any) -> Any:
        acme = provider_settings(discovery or f"{issuer}/.well-known/openid-configuration")
        return make_settings(
            **{
                **FAST,
                "server.public_url": rowgate.url,
                "auth.callback_urls": [APP],
                "auth.providers": {"acme": acme},
                **overrides,
            }
        )

    return make


@pytest.fixture
async def server(settings_for: Any, rowgate: Rowgate) -> RunningServer:
    return await rowgate.start(settings_for())


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with Browser.open() as opened:
        yield opened


@pytest.fixture
def api(server: RunningServer, http: aiohttp.ClientSession) -> Api:
    return Api(http, server)


async def signed_in_at_provider(browser: Browser, rowgate: Rowgate, login: str = "ada", **query: str) -> str:
    """Start at rowgate, sign in at the provider: the callback URL the provider sends back to."""
    start = await browser.authorize(rowgate.url, "acme", callbackUrl=APP, **query)
    return await browser.sign_in_at_provider(start, rowgate.callback("acme"), login)


async def test_the_full_flow_creates_the_user_and_signs_in(
    api: Api, browser: Browser, rowgate: Rowgate, issuer: str
) -> None:
    start = await browser.authorize(rowgate.url, "acme", callbackUrl=APP)
    sent = redirect_params(start)
    assert start.startswith(f"{issuer}/auth?")
    assert sent["code_challenge_method"] == "S256"
    assert {"state", "nonce", "code_challenge"} <= set(sent)
    callback = await browser.sign_in_at_provider(start, rowgate.callback("acme"))
    status, location, _ = await browser.open_callback(callback)
    assert status == 303
    tokens = await api.call("POST", "/token/exchange", {"code": code_of(location)})
    assert tokens.status == 200
    me = await api.call("GET", "/me", token=tokens.body["accessToken"])
    assert (me.body["user"]["email"], me.body["user"]["emailVerified"]) == ("ada@example.com", True)
    accounts = await api.call("GET", "/accounts", token=tokens.body["accessToken"])
    assert [a["provider"] for a in accounts.body["accounts"]] == ["acme"]
    assert accounts.body["hasPassword"] is False
    amr = await api.server.app[SERVICES].db.fetchval("SELECT amr FROM rowgate.sessions")
    assert amr == ["acme"]


async def test_signing_in_again_finds_the_same_account(api: Api, browser: Browser, rowgate: Rowgate) -> None:
    ids = []
    for _ in range(2):
        _status, location, _ = await browser.open_callback(await signed_in_at_provider(browser, rowgate))
        tokens = await api.call("POST", "/token/exchange", {"code": code_of(location)})
        ids.append((await api.call("GET", "/me", token=tokens.body["accessToken"])).body["user"]["id"])
    assert ids[0] == ids[1]
    assert await api.server.app[SERVICES].db.fetchval("SELECT count(*) FROM rowgate.users") == 1


async def test_a_verified_address_links_to_a_verified_account(
    api: Api, browser: Browser, rowgate: Rowgate
) -> None:
    signup = await api.signup("bob@example.com")
    db = api.server.app[SERVICES].db
    await db.execute("UPDATE rowgate.users SET email_verified_at = now()")
    _status, location, _ = await browser.open_callback(await signed_in_at_provider(browser, rowgate, "bob"))
    tokens = await api.call("POST", "/token/exchange", {"code": code_of(location)})
    me = await api.call("GET", "/me", token=tokens.body["accessToken"])
    assert (
        me.body["user"]["id"]
        == (await api.call("GET", "/me", token=signup.body["accessToken"])).body["user"]["id"]
    )


async def test_an_unverified_account_is_not_linked_by_address(
    api: Api, browser: Browser, rowgate: Rowgate
) -> None:
    squatter = await api.signup("bob@example.com")  # address never verified
    status, location, _ = await browser.open_callback(await signed_in_at_provider(browser, rowgate, "bob"))
    assert (status, redirect_params(location)) == (303, {"error": "link_required"})
    assert await api.server.app[SERVICES].db.fetchval("SELECT count(*) FROM rowgate.linked_accounts") == 0
    # The account's owner may link it explicitly, once signed in.
    start = await api.call(
        "POST", "/accounts", {"provider": "acme", "callbackUrl": APP}, token=squatter.body["accessToken"]
    )
    assert start.status == 201
    async with browser.http.get(start.body["authorizeUrl"], allow_redirects=False) as response:
        assert response.status == 302
        provider_url = response.headers["Location"]
    callback = await browser.sign_in_at_provider(provider_url, rowgate.callback("acme"), "bob")
    status, location, _ = await browser.open_callback(callback)
    assert status == 303
    assert redirect_params(location) == {"linked": "acme"}
    accounts = await api.call("GET", "/accounts", token=squatter.body["accessToken"])
    assert [a["provider"] for a in accounts.body["accounts"]] == ["acme"]


async def test_a_provider_that_does_not_verify_the_address_is_refused(
    api: Api, browser: Browser, rowgate: Rowgate
) -> None:
    status, location, _ = await browser.open_callback(await signed_in_at_provider(browser, rowgate, "eve"))
    assert (status, redirect_params(location)) == (303, {"error": "provider_email_unverified"})
    assert await api.server.app[SERVICES].db.fetchval("SELECT count(*) FROM rowgate.users") == 0


async def test_a_tampered_state_is_refused(api: Api, browser: Browser, rowgate: Rowgate) -> None:
    callback = await signed_in_at_provider(browser, rowgate)
    params = redirect_params(callback)
    tampered = callback.replace(params["state"], params["state"][:-2] + "xy")
    status, _, problem = await browser.open_callback(tampered)
    assert (status, problem["code"]) == (400, "invalid_state")


async def test_a_callback_in_another_browser_is_refused(api: Api, browser: Browser, rowgate: Rowgate) -> None:
    """Login CSRF: the attacker's callback URL opened by a victim does not sign the victim in."""
    callback = await signed_in_at_provider(browser, rowgate)
    async with Browser.open() as victim:
        status, _, problem = await victim.open_callback(callback)
    assert (status, problem["code"]) == (400, "invalid_state")


async def test_a_replayed_callback_is_refused(api: Api, browser: Browser, rowgate: Rowgate) -> None:
    callback = await signed_in_at_provider(browser, rowgate)
    cookies = {c.key: c.value for c in browser.http.cookie_jar if c.key == "rowgate_oauth"}
    assert (await browser.open_callback(callback))[0] == 303
    status, _, problem = await browser.open_callback(callback, cookies=cookies)
    assert (status, problem["code"]) == (400, "invalid_state")


async def test_a_replayed_provider_code_is_refused_by_the_provider(
    api: Api, browser: Browser, rowgate: Rowgate
) -> None:
    """The same code with a fresh, valid state: the provider refuses to redeem it twice."""
    first = await signed_in_at_provider(browser, rowgate)
    assert (await browser.open_callback(first))[0] == 303
    second_start = await browser.authorize(rowgate.url, "acme", callbackUrl=APP)
    fresh_state = redirect_params(second_start)["state"]
    replay = first.replace(redirect_params(first)["state"], fresh_state)
    status, location, _ = await browser.open_callback(replay)
    assert (status, redirect_params(location)) == (303, {"error": "provider_failed"})


async def test_a_wrong_nonce_is_refused(api: Api, browser: Browser, rowgate: Rowgate) -> None:
    callback = await signed_in_at_provider(browser, rowgate)
    # The attempt rowgate kept now expects another nonce than the one the provider signed.
    await api.server.app[SERVICES].db.execute(
        "UPDATE rowgate.one_time_tokens SET data = jsonb_set(data, '{nonce}', '\"other-nonce\"') "
        "WHERE purpose = 'oauth_state'"
    )
    status, location, _ = await browser.open_callback(callback)
    assert (status, redirect_params(location)) == (303, {"error": "invalid_id_token"})
    assert await api.server.app[SERVICES].db.fetchval("SELECT count(*) FROM rowgate.users") == 0


async def test_a_provider_whose_discovery_names_another_issuer_is_refused(
    settings_for: Any, rowgate: Rowgate, browser: Browser, issuer: str
) -> None:
    localhost = issuer.replace("127.0.0.1", "localhost")  # the document says iss is 127.0.0.1
    await rowgate.start(settings_for(f"{localhost}/.well-known/openid-configuration"))
    async with browser.http.get(
        f"{rowgate.url}/v1/auth/acme/authorize", params={"callbackUrl": APP}, allow_redirects=False
    ) as response:
        assert response.status == 502
        assert (await response.json())["code"] == "issuer_mismatch"


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ({}, 422, "callback_not_allowed"),
        ({"callbackUrl": "https://evil.example.com/"}, 422, "callback_not_allowed"),
        ({"callbackUrl": APP, "codeChallenge": "short"}, 422, "invalid_code_challenge"),
        ({"callbackUrl": "x" * 5000}, 400, "invalid_parameter"),
        ({"linkToken": "made-up"}, 400, "invalid_link_token"),
    ],
)
async def test_bad_authorize_requests_are_problems(
    server: RunningServer, browser: Browser, query: dict[str, str], status: int, code: str
) -> None:
    async with browser.http.get(
        f"{server.url}/v1/auth/acme/authorize", params=query, allow_redirects=False
    ) as r:
        assert r.status == status
        assert (await r.json())["code"] == code


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ({}, 400, "invalid_state"),
        ({"state": "x", "code": "y"}, 400, "invalid_state"),
        ({"state": "x" * 5000, "code": "y"}, 400, "invalid_parameter"),
        ({"error": "access_denied", "state": "x"}, 400, "invalid_state"),
    ],
)
async def test_bad_callbacks_are_problems(
    server: RunningServer, browser: Browser, query: dict[str, str], status: int, code: str
) -> None:
    async with browser.http.get(
        f"{server.url}/v1/auth/acme/callback", params=query, allow_redirects=False
    ) as r:
        assert r.status == status
        assert (await r.json())["code"] == code


async def test_a_user_who_declines_at_the_provider_goes_back_to_the_app(
    api: Api, browser: Browser, rowgate: Rowgate
) -> None:
    start = await browser.authorize(rowgate.url, "acme", callbackUrl=APP)
    state = redirect_params(start)["state"]
    declined = f"{rowgate.callback('acme')}?error=access_denied&error_description=%3Cb%3Eno&state={state}"
    status, location, _ = await browser.open_callback(declined)
    assert (status, location) == (303, f"{APP}?error=provider_refused")


async def test_an_unknown_provider_is_404(server: RunningServer, browser: Browser) -> None:
    async with browser.http.get(f"{server.url}/v1/auth/nope/authorize", params={"callbackUrl": APP}) as r:
        assert r.status == 404


async def test_the_last_way_to_sign_in_cannot_be_unlinked(
    api: Api, browser: Browser, rowgate: Rowgate
) -> None:
    _status, location, _ = await browser.open_callback(await signed_in_at_provider(browser, rowgate))
    token = (await api.call("POST", "/token/exchange", {"code": code_of(location)})).body["accessToken"]
    refused = await api.call("DELETE", "/accounts/acme", token=token)
    assert (refused.status, refused.code) == (409, "last_signin_method")
    missing = await api.call("DELETE", "/accounts/github", token=token)
    assert (missing.status, missing.code) == (404, "not_linked")
    user_id = (await api.call("GET", "/me", token=token)).body["user"]["id"]
    await api.server.app[SERVICES].db.execute(
        "UPDATE rowgate.users SET password_hash = 'set' WHERE id = $1", user_id
    )
    assert (await api.call("DELETE", "/accounts/acme", token=token)).status == 204


async def test_account_endpoints_need_a_signed_in_user_and_good_bodies(api: Api) -> None:
    assert (await api.call("GET", "/accounts")).status == 401
    signup = await api.signup("c@example.com", PASSWORD)
    token = signup.body["accessToken"]
    for body, code in (
        ({}, "validation_failed"),
        ({"provider": "acme"}, "validation_failed"),
        ({"provider": 1, "callbackUrl": APP}, "validation_failed"),
        ({"provider": "nope", "callbackUrl": APP}, "unknown_provider"),
        ({"provider": "acme", "callbackUrl": "https://evil.example.com/"}, "callback_not_allowed"),
    ):
        answer = await api.call("POST", "/accounts", body, token=token)
        assert answer.code == code, body
        assert 400 <= answer.status < 500
