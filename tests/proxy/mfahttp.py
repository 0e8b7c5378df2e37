"""Helpers for the MFA tests over HTTP: a running rowgate, users with MFA on, JWT claims."""

from __future__ import annotations

import base64
import json
from typing import Any

import aiohttp
import pytest

from rowgate.proxy.appkeys import SERVICES
from rowgate.proxy.demo import build_demo_app
from tests.conftest import SettingsFactory
from tests.mfakit import Authenticator
from tests.proxy.authkit import FAST, PASSWORD, ROUTES, Api, Start, StartApp


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


async def signed_up(api: Api, email: str, **extra: Any) -> str:
    answer = await api.signup(email, **extra)
    assert answer.status == 201, answer.body
    return str(answer.body["accessToken"])


async def enrolled(api: Api, email: str, **extra: Any) -> tuple[str, Authenticator, list[str]]:
    """A user with MFA on: their (signup) access token, authenticator and backup codes."""
    token = await signed_up(api, email, **extra)
    started = await api.call("POST", "/mfa/enable", {"password": PASSWORD}, token=token)
    assert started.status == 200, started.body
    phone = Authenticator(started.body["secret"])
    confirmed = await api.call("POST", "/mfa/confirm", {"code": phone.fresh()}, token=token)
    assert confirmed.status == 200, confirmed.body
    return token, phone, confirmed.body["backupCodes"]


async def factor_rows(api: Api) -> list[dict[str, Any]]:
    db = api.server.app[SERVICES].db
    return [dict(r) for r in await db.fetch("SELECT * FROM rowgate.mfa_factors")]


def claims(token: str) -> dict[str, Any]:
    """The payload of a JWT (its signature was checked by rowgate; this only reads it)."""
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


async def signed_in_with_mfa(api: Api, email: str, phone: Authenticator) -> dict[str, Any]:
    """The token set of a sign-in with the password and a fresh code, in one call."""
    answer = await api.call(
        "POST", "/email/signin", {"email": email, "password": PASSWORD, "mfaCode": phone.fresh()}
    )
    assert answer.status == 200, answer.body
    return dict(answer.body)
