"""The bundled configuration's argon2id parameters (OWASP's) are what a running rowgate hashes
with: the other tests run on cheaper ones (``tests.conftest.CHEAP_ARGON2``)."""

from __future__ import annotations

import aiohttp
import pytest

from rowgate.config import DEFAULT_CONFIG, load_settings
from rowgate.proxy.appkeys import SERVICES
from tests.conftest import SettingsFactory
from tests.proxy.authkit import PASSWORD, Api, Start

pytestmark = pytest.mark.integration


async def test_signup_and_signin_use_the_bundled_owasp_parameters(
    make_settings: SettingsFactory, start_rowgate: Start, http: aiohttp.ClientSession
) -> None:
    bundled = load_settings(DEFAULT_CONFIG, environ={}).auth.argon2
    assert (bundled.memory_cost, bundled.time_cost, bundled.parallelism) == (19456, 2, 1)
    settings = make_settings(
        **{
            "auth.argon2.memory_cost": bundled.memory_cost,
            "auth.argon2.time_cost": bundled.time_cost,
            "auth.argon2.parallelism": bundled.parallelism,
        }
    )
    server = await start_rowgate(settings)
    api = Api(http, server)
    assert (await api.signup("ada@example.com")).status == 201
    stored = await server.app[SERVICES].db.fetchval(
        "SELECT password_hash FROM rowgate.users WHERE email = 'ada@example.com'"
    )
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert (await api.signin("ada@example.com", PASSWORD)).status == 200
    assert (await api.signin("ada@example.com", "Wrong-Horse-42")).status == 401
