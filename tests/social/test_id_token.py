"""ID token checks (pure claims over real keys): a token rowgate did not ask for is refused.

The keys are published by a small JWKS endpoint, as a provider would; tokens are signed here so
that each one differs from a valid token in exactly one way.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from rowgate.auth.external.jwks import JwksCache
from rowgate.auth.social.oidc import Endpoints, verify_id_token
from rowgate.config.social import ProviderSettings
from rowgate.config.tenancy import ExternalIssuer
from rowgate.errors import InvalidToken
from tests.proxy.authkit import StartApp

ISSUER = "https://id.example.com"
NONCE = "the-nonce-of-this-attempt"
SETTINGS = ProviderSettings(
    discovery_url=f"{ISSUER}/.well-known/openid-configuration", client_id="rowgate", client_secret_env="X"
)
PUBLISHED = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": ISSUER, "aud": "rowgate", "sub": "u-1", "iat": now, "exp": now + 300, "nonce": NONCE}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def signed(payload: dict[str, Any], key: Any = PUBLISHED, alg: str = "RS256", kid: str = "k1") -> str:
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})


@pytest.fixture
async def endpoints(start_app: StartApp) -> Any:
    jwk = RSAAlgorithm.to_jwk(PUBLISHED.public_key(), as_dict=True) | {"kid": "k1", "use": "sig"}

    async def jwks(request: web.Request) -> web.Response:
        return web.json_response({"keys": [jwk]})

    app = web.Application()
    app.router.add_get("/jwks", jwks)
    base = await start_app(app)
    async with aiohttp.ClientSession() as http:
        issuer = ExternalIssuer(issuer=ISSUER, jwks_url=f"{base}/jwks", audiences=("rowgate",))
        yield Endpoints(ISSUER, f"{ISSUER}/auth", f"{ISSUER}/token", JwksCache(issuer, lambda: http))


async def test_a_valid_token_gives_its_claims(endpoints: Endpoints) -> None:
    found = await verify_id_token(signed(claims()), endpoints, SETTINGS, NONCE)
    assert found["sub"] == "u-1"


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: signed(claims(), key=OTHER), id="signed with another key"),
        pytest.param(lambda: signed(claims(), key=OTHER, kid="k2"), id="another key, unknown kid"),
        pytest.param(lambda: signed(claims(iss="https://evil.example.com")), id="wrong issuer"),
        pytest.param(lambda: signed(claims(aud="someone-else")), id="wrong audience"),
        pytest.param(lambda: signed(claims(aud=["rowgate", "other"])), id="several audiences, no azp"),
        pytest.param(lambda: signed(claims(nonce="another")), id="wrong nonce"),
        pytest.param(lambda: signed(claims(nonce=None)), id="no nonce"),
        pytest.param(lambda: signed(claims(exp=int(time.time()) - 3600)), id="expired"),
        pytest.param(lambda: signed(claims(exp=None)), id="no exp"),
        pytest.param(
            lambda: signed(claims(), key="a-shared-secret-of-some-length-32b", alg="HS256"), id="HS256"
        ),
        pytest.param(lambda: jwt.encode(claims(), None, algorithm="none"), id="alg none"),
        pytest.param(lambda: signed(claims(), alg="RS512"), id="algorithm not configured"),
        pytest.param(lambda: "not.a.jwt", id="malformed"),
    ],
)
async def test_tokens_that_differ_in_one_way_are_refused(endpoints: Endpoints, token: Any) -> None:
    with pytest.raises(InvalidToken) as caught:
        await verify_id_token(token(), endpoints, SETTINGS, NONCE)
    assert caught.value.code == "invalid_id_token"
