"""Magic links end to end over HTTP, mailed through a real SMTP server (in-process aiosmtpd)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from rowgate.auth.mail.backends import links_in
from rowgate.proxy.appkeys import SERVICES
from tests.auth.mail.smtpkit import Sink, smtp_server
from tests.conftest import SettingsFactory
from tests.proxy.authkit import FAST, PASSWORD, Api, Start
from tests.proxy.mfahttp import claims, enrolled

pytestmark = pytest.mark.integration
APP = "https://app.example.com/after-signin"
VERIFIER = "v" * 43 + "-magic-verifier"


@pytest.fixture
def smtp() -> Iterator[tuple[Sink, int]]:
    with smtp_server() as running:
        yield running


@pytest.fixture
def settings_for(make_settings: SettingsFactory, smtp: tuple[Sink, int]) -> Any:
    def make(**overrides: Any) -> Any:
        mail = {"mail.backend": "smtp", "mail.smtp": {"port": smtp[1], "security": "none"}}
        return make_settings(**{**FAST, **mail, "auth.callback_urls": [APP], **overrides})

    return make


@pytest.fixture
async def api(settings_for: Any, start_rowgate: Start, http: aiohttp.ClientSession) -> Api:
    return Api(http, await start_rowgate(settings_for()))


def challenge_of(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


async def ask(api: Api, email: str, *, path: str = "/email/signin", **extra: Any) -> Any:
    body = {"method": "magiclink", "email": email, "callbackUrl": APP, **extra}
    return await api.call("POST", path, body)


async def mailed_links(api: Api, sink: Sink, count: int) -> list[str]:
    """The links of the first ``count`` messages the SMTP server received."""
    async with asyncio.timeout(10):
        while len(sink.received) < count:
            await api.server.app[SERVICES].mail.run_once()
            await asyncio.sleep(0.02)
    return [links_in(r.message)[0] for r in sink.received]


async def open_link(api: Api, link: str) -> aiohttp.ClientResponse:
    """Open the link's page, then press its button (no redirect followed)."""
    parts = urlsplit(link)
    assert parts.path == "/v1/auth/email/magiclink"
    page_url = f"{api.base}/email/magiclink?{parts.query}"
    async with api.http.get(page_url) as page:
        assert page.status == 200
        html = await page.text()
        assert "form-action 'self' https://app.example.com" in page.headers["Content-Security-Policy"]
    token = re.search(r'name="token" value="([^"]+)"', html)
    assert token is not None
    async with api.http.post(
        page_url.split("?")[0], data={"token": token.group(1)}, allow_redirects=False
    ) as r:
        await r.read()
        return r


def code_in(response: aiohttp.ClientResponse) -> str:
    assert response.status == 303
    target = urlsplit(response.headers["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == APP
    query = parse_qs(target.query)
    assert set(query) == {"code"}  # no token in the URL
    return query["code"][0]


async def signed_up(api: Api, email: str) -> None:
    assert (await api.signup(email)).status == 201


async def test_a_link_signs_in_through_a_single_use_code(api: Api, smtp: tuple[Sink, int]) -> None:
    await signed_up(api, "ada@example.com")
    answer = await ask(api, "Ada@Example.com")
    assert answer.status == 202
    (link,) = (await mailed_links(api, smtp[0], 2))[1:]
    assert smtp[0].received[1].recipients == ["ada@example.com"]
    assert "Sign in to rowgate" in str(smtp[0].received[1].message["Subject"])
    code = code_in(await open_link(api, link))
    tokens = await api.call("POST", "/token/exchange", {"code": code})
    assert tokens.status == 200
    assert tokens.headers["Cache-Control"] == "no-store"
    me = await api.call("GET", "/me", token=tokens.body["accessToken"])
    assert me.body["user"]["email"] == "ada@example.com"
    assert me.body["user"]["emailVerified"] is True  # opening the link proved the address
    replay = await api.call("POST", "/token/exchange", {"code": code})
    assert (replay.status, replay.code) == (400, "invalid_code")
    row = await api.server.app[SERVICES].db.fetchrow(
        "SELECT amr, details FROM rowgate.sessions s JOIN rowgate.audit_events a ON a.session_id = s.id "
        "WHERE a.event = 'signin.succeeded' ORDER BY a.id DESC LIMIT 1"
    )
    assert row is not None
    assert row["amr"] == ["magiclink"]


async def test_a_link_works_once(api: Api, smtp: tuple[Sink, int]) -> None:
    await signed_up(api, "ada@example.com")
    await ask(api, "ada@example.com")
    link = (await mailed_links(api, smtp[0], 2))[1]
    code_in(await open_link(api, link))
    again = await open_link(api, link)
    assert again.status == 400
    assert "invalid, used or expired" in await again.text()


async def test_an_expired_link_is_refused(
    settings_for: Any, start_rowgate: Start, http: aiohttp.ClientSession, smtp: tuple[Sink, int]
) -> None:
    api = Api(http, await start_rowgate(settings_for(**{"auth.magic_link.ttl": "1s"})))
    await signed_up(api, "ada@example.com")
    await ask(api, "ada@example.com")
    link = (await mailed_links(api, smtp[0], 2))[1]
    await api.server.app[SERVICES].db.execute(
        "UPDATE rowgate.one_time_tokens SET expires_at = now() - interval '1 second' "
        "WHERE purpose = 'magic_link'"
    )
    assert (await open_link(api, link)).status == 400


async def test_a_callback_outside_the_allowlist_is_refused(api: Api, smtp: tuple[Sink, int]) -> None:
    await signed_up(api, "ada@example.com")
    for url in (
        "https://evil.example.com/after-signin",
        "https://app.example.com/other",
        "https://app.example.com.evil.com/after-signin",
        "https://user@app.example.com/after-signin",
        "https://app.example.com/after-signin#frag",
        "javascript:alert(1)",
        "//evil.example.com",
    ):
        answer = await ask(api, "ada@example.com", callbackUrl=url)
        assert (answer.status, answer.code) == (422, "callback_not_allowed"), url
    ok = await ask(api, "ada@example.com", callbackUrl=APP + "?next=/home")
    assert ok.status == 202


async def test_unknown_addresses_get_the_same_answer_and_no_mail(api: Api, smtp: tuple[Sink, int]) -> None:
    await signed_up(api, "ada@example.com")
    known = await ask(api, "ada@example.com")
    unknown = await ask(api, "nobody@example.com")
    assert (known.status, known.body) == (unknown.status, unknown.body) == (202, known.body)
    await mailed_links(api, smtp[0], 2)
    await api.server.app[SERVICES].mail.run_once()
    assert [r.recipients for r in smtp[0].received] == [["ada@example.com"], ["ada@example.com"]]
    signup = await ask(api, "nobody@example.com", path="/email/signup")
    assert (signup.status, signup.code) == (403, "signup_disabled")


async def test_sign_up_by_link_when_allowed_creates_a_verified_account(
    settings_for: Any, start_rowgate: Start, http: aiohttp.ClientSession, smtp: tuple[Sink, int]
) -> None:
    api = Api(http, await start_rowgate(settings_for(**{"auth.magic_link.allow_signup": True})))
    assert (await ask(api, "new@example.com", path="/email/signup")).status == 202
    (link,) = await mailed_links(api, smtp[0], 1)
    tokens = await api.call("POST", "/token/exchange", {"code": code_in(await open_link(api, link))})
    me = await api.call("GET", "/me", token=tokens.body["accessToken"])
    assert (me.body["user"]["email"], me.body["user"]["emailVerified"]) == ("new@example.com", True)
    assert (await api.signin("new@example.com", PASSWORD)).status == 401  # no password


async def test_a_link_takes_over_an_unverified_account_from_whoever_made_it(
    api: Api, smtp: tuple[Sink, int]
) -> None:
    squatter = await api.signup("victim@example.com")  # not the owner of the address
    await ask(api, "victim@example.com")
    link = (await mailed_links(api, smtp[0], 2))[1]
    await api.call("POST", "/token/exchange", {"code": code_in(await open_link(api, link))})
    assert (await api.signin("victim@example.com", PASSWORD)).status == 401
    refreshed = await api.call("POST", "/refresh", {"refreshToken": squatter.body["refreshToken"]})
    assert refreshed.status == 401


async def test_with_a_challenge_the_exchange_needs_the_verifier(api: Api, smtp: tuple[Sink, int]) -> None:
    await signed_up(api, "ada@example.com")
    await ask(api, "ada@example.com", codeChallenge=challenge_of(VERIFIER))
    code = code_in(await open_link(api, (await mailed_links(api, smtp[0], 2))[1]))
    for wrong in ({}, {"codeVerifier": "w" * 43}):
        answer = await api.call("POST", "/token/exchange", {"code": code, **wrong})
        assert (answer.status, answer.code) == (400, "invalid_code")
    right = await api.call("POST", "/token/exchange", {"code": code, "codeVerifier": VERIFIER})
    assert right.status == 200


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/email/signin", {"method": "magiclink", "email": "a@example.com"}, 422),
        ("/email/signin", {"method": "magiclink", "email": 5, "callbackUrl": APP}, 422),
        ("/email/signin", {"method": "magiclink", "email": "not an address", "callbackUrl": APP}, 422),
        ("/email/signin", {"method": "magiclink", "email": "a@example.com", "callbackUrl": "x" * 5000}, 422),
        (
            "/email/signin",
            {"method": "magiclink", "email": "a@example.com", "callbackUrl": APP, "codeChallenge": "short"},
            422,
        ),
        ("/email/signin", {"method": "sms", "email": "a@example.com", "password": "x"}, 422),
        (
            "/email/signin",
            {"method": "magiclink", "email": "a@example.com", "callbackUrl": APP, "extra": 1},
            422,
        ),
        ("/token/exchange", {}, 422),
        ("/token/exchange", {"code": 12}, 422),
        ("/token/exchange", {"code": "x" * 5000}, 422),
        ("/token/exchange", {"code": "unknown"}, 400),
        ("/token/exchange", {"code": "unknown", "codeVerifier": "bad verifier"}, 400),
        ("/token/exchange", [], 422),
    ],
)
async def test_bad_input_is_a_problem(api: Api, path: str, body: Any, status: int) -> None:
    answer = await api.call("POST", path, body)
    assert answer.status == status
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert answer.code


async def test_a_bad_link_page_and_form_are_pages_not_errors(api: Api) -> None:
    async with api.http.get(f"{api.base}/email/magiclink") as page:
        assert page.status == 400
    async with api.http.post(f"{api.base}/email/magiclink", data={"token": "nope"}) as used:
        assert used.status == 400
        assert "invalid, used or expired" in await used.text()


async def test_with_mfa_on_the_link_leads_to_the_mfa_step(api: Api, smtp: tuple[Sink, int]) -> None:
    _, phone, _ = await enrolled(api, "ada@example.com")
    assert (await ask(api, "ada@example.com")).status == 202
    (link,) = (await mailed_links(api, smtp[0], 2))[1:]
    exchanged = await api.call("POST", "/token/exchange", {"code": code_in(await open_link(api, link))})
    assert exchanged.status == 200
    assert exchanged.body["mfaRequired"] is True
    assert "accessToken" not in exchanged.body
    done = await api.call(
        "POST", "/mfa/verify", {"mfaToken": exchanged.body["mfaToken"], "code": phone.fresh()}
    )
    assert done.status == 200, done.body
    assert claims(done.body["accessToken"])["amr"] == ["magiclink", "otp", "mfa"]
