"""What would outlive a session asks the database whether the session is still live, not the
in-memory revocation list: a session revoked where no announcement reached this instance (only
the database knows) cannot mint an API key, open a session in another organisation, or refresh."""

from __future__ import annotations

import aiohttp
import asyncpg
import pytest

from rowgate.proxy.demo import build_demo_app
from tests.conftest import SettingsFactory
from tests.proxy.authkit import FAST, ROUTES, Api, Start, StartApp

pytestmark = pytest.mark.integration


async def test_a_session_revoked_only_in_the_database_mints_nothing(
    make_settings: SettingsFactory, start_rowgate: Start, start_app: StartApp, http: aiohttp.ClientSession
) -> None:
    upstream = await start_app(build_demo_app())
    settings = make_settings(**FAST, **ROUTES, **{"upstream.url": upstream})
    api = Api(http, await start_rowgate(settings))
    signup = await api.signup("quiet@example.com")
    token, refresh = signup.body["accessToken"], signup.body["refreshToken"]
    orgs = await api.call("POST", "/orgs", {"name": "Second"}, token=token)
    assert orgs.status == 201, orgs.body
    assert settings.database.url
    conn = await asyncpg.connect(settings.database.url)
    try:
        await conn.execute("UPDATE rowgate.sessions SET revoked_at = now()")  # no announcement
    finally:
        await conn.close()

    minted = await api.call("POST", "/api-keys", {"name": "k", "type": "secret", "scopes": []}, token=token)
    assert (minted.status, minted.code) == (401, "session_revoked")
    switched = await api.call("POST", "/switch-org", {"orgId": orgs.body["id"]}, token=token)
    assert (switched.status, switched.code) == (401, "session_revoked")
    refreshed = await api.call("POST", "/refresh", {"refreshToken": refresh})
    assert (refreshed.status, refreshed.code) == (401, "session_revoked")
