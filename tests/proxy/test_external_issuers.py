"""External issuers: tokens verified against a JWKS server started by the test (Firebase/Auth0-like).

The JWKS server's key set can be changed mid-test (rotation) and counts how often it is fetched.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from rowgate.config import Settings
from rowgate.proxy.demo import build_demo_app
from tests.conftest import RunningServer, SettingsFactory
from tests.tenancykit import Tenancy

pytestmark = pytest.mark.integration

Start = Callable[[Settings], Awaitable[RunningServer]]
StartApp = Callable[[web.Application], Awaitable[str]]

ISSUER = "https://securetoken.example.com/my-project"
AUDIENCE = "my-project"
ORG = str(uuid.uuid4())


class Signer:
    """An issuer's key pair: signs tokens, and publishes its public JWK."""

    def __init__(self, kid: str, algorithm: str = "ES256") -> None:
        self.kid = kid
        self.algorithm = algorithm
        self.private: Any = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if algorithm.startswith("RS")
            else ec.generate_private_key(ec.SECP256R1())
        )

    @property
    def jwk(self) -> dict[str, Any]:
        impl = RSAAlgorithm if self.algorithm.startswith("RS") else ECAlgorithm
        return {**impl.to_jwk(self.private.public_key(), as_dict=True), "kid": self.kid, "use": "sig"}

    def token(self, headers: dict[str, Any] | None = None, **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "firebase-user-1",
            "org_id": ORG,
            "role": "viewer",
            "iat": now,
            "exp": now + 600,
            **claims,
        }
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(
            payload, self.private, algorithm=self.algorithm, headers={"kid": self.kid, **(headers or {})}
        )


class JwksServer:
    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0
        self.status = 200

    async def handle(self, request: web.Request) -> web.Response:
        self.fetches += 1
        if self.status != 200:
            return web.Response(status=self.status)
        return web.json_response({"keys": self.keys})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/jwks.json", self.handle)
        return app


@pytest.fixture
def signer() -> Signer:
    return Signer("key-1")


@pytest.fixture
async def jwks(start_app: StartApp, signer: Signer) -> tuple[JwksServer, str]:
    server = JwksServer()
    server.keys = [signer.jwk]
    return server, await start_app(server.app()) + "/jwks.json"


def issuer(url: str, **overrides: Any) -> dict[str, Any]:
    return {
        "issuer": ISSUER,
        "jwks_url": url,
        "audiences": [AUDIENCE],
        "algorithms": ["ES256", "RS256"],
        "user_id_prefix": "fb:",
        "jwks_refetch_interval": "0s",
        **overrides,
    }


@pytest.fixture
async def make(
    make_settings: SettingsFactory, start_rowgate: Start, start_app: StartApp, jwks: tuple[JwksServer, str]
) -> Callable[..., Awaitable[RunningServer]]:
    upstream = await start_app(build_demo_app())

    async def start(**overrides: Any) -> RunningServer:
        rules = [
            {"path": "/public/**", "level": "public"},
            {
                "path": "/api/whoami",
                "methods": ["POST"],
                "level": "authenticated",
                "permissions": ["tasks:delete"],
            },
            {"path": "/api/**", "level": "authenticated"},
            {"path": "/admin-only/**", "level": "admin"},
        ]
        entry = issuer(jwks[1], **overrides)
        return await start_rowgate(
            make_settings(**{"upstream.url": upstream, "routes.rules": rules, "issuers": [entry]})
        )

    return start


async def whoami(
    http: aiohttp.ClientSession, server: RunningServer, token: str, method: str = "GET"
) -> tuple[int, Any]:
    async with http.request(
        method, f"{server.url}/api/whoami", headers={"Authorization": f"Bearer {token}"}
    ) as r:
        return r.status, await r.json()


async def test_a_valid_external_token_gets_identity_role_and_permissions(
    make: Callable[..., Awaitable[RunningServer]], signer: Signer, http: aiohttp.ClientSession
) -> None:
    server = await make()
    status, body = await whoami(http, server, signer.token())
    assert status == 200, body
    assert body["identity"] == {
        "X-Rowgate-User-Id": "fb:firebase-user-1",
        "X-Rowgate-Org-Id": ORG,
        "X-Rowgate-Role": "viewer",
        "X-Rowgate-Auth-Method": "external",
    }
    status, body = await whoami(http, server, signer.token(), method="POST")  # viewer lacks tasks:delete
    assert (status, body["code"]) == (403, "permission_denied")
    status, _ = await whoami(http, server, signer.token(role="admin"), method="POST")
    assert status == 200


async def test_the_key_set_is_fetched_once_and_verified_tokens_are_cached(
    make: Callable[..., Awaitable[RunningServer]],
    signer: Signer,
    jwks: tuple[JwksServer, str],
    http: aiohttp.ClientSession,
) -> None:
    server = await make(jwks_refetch_interval="1h")
    token = signer.token()
    for _ in range(3):
        assert (await whoami(http, server, token))[0] == 200
    assert (await whoami(http, server, signer.token(sub="someone-else")))[0] == 200
    assert jwks[0].fetches == 1


async def test_a_rotated_key_is_fetched_on_first_sight_and_the_removed_one_stops(
    make: Callable[..., Awaitable[RunningServer]],
    signer: Signer,
    jwks: tuple[JwksServer, str],
    http: aiohttp.ClientSession,
) -> None:
    server = await make()
    old_token = signer.token()
    assert (await whoami(http, server, old_token))[0] == 200
    rotated = Signer("key-2", "RS256")
    jwks[0].keys = [rotated.jwk]  # the issuer rotated: the old key is gone
    status, body = await whoami(http, server, rotated.token())
    assert status == 200, body
    assert jwks[0].fetches == 2
    status, body = await whoami(http, server, old_token)  # was cached: dropped with the old key set
    assert (status, body["code"]) == (401, "invalid_token")


async def test_unknown_kids_refetch_at_most_once_per_interval(
    make: Callable[..., Awaitable[RunningServer]],
    signer: Signer,
    jwks: tuple[JwksServer, str],
    http: aiohttp.ClientSession,
) -> None:
    server = await make(jwks_refetch_interval="1h")
    assert (await whoami(http, server, signer.token()))[0] == 200
    for index in range(5):
        stranger = Signer(f"made-up-{index}")
        status, body = await whoami(http, server, stranger.token())
        assert (status, body["code"]) == (401, "invalid_token")
    assert jwks[0].fetches == 1


BAD_TOKENS = (
    "unconfigured issuer",
    "wrong audience",
    "no audience",
    "key not in the JWKS under a known kid",
    "key not in the JWKS under an unknown kid",
    "alg none",
    "HS256 signed with the public key",
    "algorithm not configured",
    "jku header",
    "crit header",
    "expired",
    "not yet valid",
    "no exp",
    "no subject",
    "subject with a line break",
    "subject a number",
    "role a list",
    "tampered payload",
)


def bad_tokens(signer: Signer) -> dict[str, str]:
    """One token per case of ``BAD_TOKENS``, each wrong in exactly that way."""
    attacker = Signer(signer.kid)  # another key, published nowhere, claiming the real key's kid
    now = int(time.time())
    pem = signer.private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    tokens = {
        "unconfigured issuer": signer.token(iss="https://evil.example.com"),
        "wrong audience": signer.token(aud="another-project"),
        "no audience": signer.token(aud=None),
        "key not in the JWKS under a known kid": attacker.token(),
        "key not in the JWKS under an unknown kid": Signer("other").token(),
        "alg none": _unsigned(signer.kid),
        "HS256 signed with the public key": _hmac(pem, signer.kid),
        "algorithm not configured": Signer(signer.kid, "RS256").token(),
        "jku header": signer.token(headers={"jku": "https://evil.example.com/jwks"}),
        "crit header": signer.token(headers={"crit": ["exp"]}),
        "expired": signer.token(exp=now - 3600, iat=now - 7200),
        "not yet valid": signer.token(nbf=now + 3600),
        "no exp": signer.token(exp=None),
        "no subject": signer.token(sub=None),
        "subject with a line break": signer.token(sub="a\r\nX-Rowgate-Role: admin"),
        "subject a number": signer.token(sub=12345),
        "role a list": signer.token(role=["admin"]),
        "tampered payload": _tamper(signer.token()),
    }
    assert set(tokens) == set(BAD_TOKENS)
    return tokens


async def test_bad_external_tokens_are_refused(
    make: Callable[..., Awaitable[RunningServer]], signer: Signer, http: aiohttp.ClientSession
) -> None:
    """Every case of ``BAD_TOKENS`` is a 401 (one server for all: starting one per case is slow)."""
    server = await make(algorithms=["ES256"])
    assert (await whoami(http, server, signer.token()))[0] == 200  # the control: a good token passes
    wrongly_accepted = {}
    for case, token in bad_tokens(signer).items():
        status, body = await whoami(http, server, token)
        if status != 401 or body["code"] not in ("invalid_token", "token_expired"):
            wrongly_accepted[case] = (status, body.get("code"))
    assert wrongly_accepted == {}


async def test_claim_mapping_defaults_and_required_claims(
    make: Callable[..., Awaitable[RunningServer]], signer: Signer, http: aiohttp.ClientSession
) -> None:
    server = await make(
        claims={"user_id": "uid", "org_id": "https://example.com/tenant", "role": None},
        default_role="member",
        required_claims={"token_use": "access"},
        audience_claim="client_id",
        audiences=["web-client"],
    )
    namespaced: dict[str, Any] = {"https://example.com/tenant": ORG}
    token = signer.token(uid="u-9", **namespaced, client_id="web-client", token_use="access")
    status, body = await whoami(http, server, token)
    assert status == 200, body
    assert body["identity"]["X-Rowgate-User-Id"] == "fb:u-9"
    assert body["identity"]["X-Rowgate-Role"] == "member"
    assert body["identity"]["X-Rowgate-Org-Id"] == ORG
    id_token = signer.token(uid="u-9", client_id="web-client", token_use="id")
    assert (await whoami(http, server, id_token))[0] == 401


async def test_an_unreachable_key_set_is_503_on_protected_routes_only(
    make: Callable[..., Awaitable[RunningServer]],
    signer: Signer,
    jwks: tuple[JwksServer, str],
    http: aiohttp.ClientSession,
) -> None:
    jwks[0].status = 500
    server = await make()
    status, body = await whoami(http, server, signer.token())
    assert (status, body["code"]) == (503, "issuer_unavailable")
    headers = {"Authorization": f"Bearer {signer.token()}"}
    async with http.get(f"{server.url}/public/hello", headers=headers) as response:
        assert response.status == 200


async def test_rowgate_tokens_still_work_beside_external_issuers(
    make: Callable[..., Awaitable[RunningServer]], http: aiohttp.ClientSession
) -> None:
    server = await make()
    t = Tenancy(server, http)
    admin = await t.member()
    status, body = await whoami(http, server, admin.token)
    assert status == 200
    assert body["identity"]["X-Rowgate-Auth-Method"] == "password"


async def test_external_tokens_do_not_reach_rowgates_own_endpoints(
    make: Callable[..., Awaitable[RunningServer]], signer: Signer, http: aiohttp.ClientSession
) -> None:
    server = await make()
    headers = {"Authorization": f"Bearer {signer.token(role='admin')}"}
    async with http.get(f"{server.url}/v1/auth/members", headers=headers) as response:
        body = await response.json()
        assert (response.status, body["code"]) == (403, "rowgate_user_required")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims() -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "x",
        "org_id": ORG,
        "role": "admin",
        "iat": now,
        "exp": now + 600,
    }


def _unsigned(kid: str) -> str:
    header = _b64(json.dumps({"alg": "none", "kid": kid}).encode())
    return f"{header}.{_b64(json.dumps(_claims()).encode())}."


def _hmac(secret: bytes, kid: str) -> str:
    import hashlib
    import hmac

    header = _b64(json.dumps({"alg": "HS256", "kid": kid, "typ": "JWT"}).encode())
    body = _b64(json.dumps(_claims()).encode())
    signature = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"


def _tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["role"] = "admin"
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"
