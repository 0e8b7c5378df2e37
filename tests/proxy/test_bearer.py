"""Bearer tokens through the proxy: identity headers, route levels, revocation on every instance."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import aiohttp
import jwt
import pytest
from aiohttp import web

from rowgate.config import Settings
from rowgate.proxy.appkeys import SERVICES
from rowgate.proxy.demo import build_demo_app
from tests.conftest import RunningServer, SettingsFactory

pytestmark = pytest.mark.integration

Start = Callable[[Settings], Awaitable[RunningServer]]
StartApp = Callable[[web.Application], Awaitable[str]]

ROUTES = {
    "routes.default": "deny",
    "routes.rules": [
        {"path": "/public/**", "level": "public"},
        {"path": "/api/**", "level": "authenticated"},
        {"path": "/admin-only/**", "level": "admin"},
    ],
}


def access_token(
    server: RunningServer, *, role: str = "member", sid: str | None = None, org: str | None = None
) -> str:
    tokens = server.app[SERVICES].tokens
    issued = tokens.issue_access(
        sub=str(uuid.uuid4()),
        sid=sid or str(uuid.uuid4()),
        amr=["pwd"],
        org_id=org or str(uuid.uuid4()),
        role=role,
    )
    return issued.token


@pytest.fixture
async def upstream(start_app: StartApp) -> str:
    return await start_app(build_demo_app())


@pytest.fixture
async def server(make_settings: SettingsFactory, start_rowgate: Start, upstream: str) -> RunningServer:
    return await start_rowgate(make_settings(**ROUTES, **{"upstream.url": upstream}))


async def whoami(
    http: aiohttp.ClientSession, server: RunningServer, headers: dict[str, str]
) -> tuple[int, dict[str, object]]:
    async with http.get(f"{server.url}/api/whoami", headers=headers) as response:
        return response.status, await response.json()


async def test_a_valid_token_reaches_the_upstream_with_trusted_identity(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    tokens = server.app[SERVICES].tokens
    user, sid, org = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    token = tokens.issue_access(sub=user, sid=sid, amr=["pwd"], org_id=org, role="member").token
    spoofed = {"X-Rowgate-User-Id": "someone-else", "X-Rowgate-Role": "admin", "X-Rowgate-Org-Id": "other"}
    status, body = await whoami(http, server, {"Authorization": f"Bearer {token}", **spoofed})
    assert status == 200
    assert body["identity"] == {
        "X-Rowgate-User-Id": user,
        "X-Rowgate-Org-Id": org,
        "X-Rowgate-Role": "member",
        "X-Rowgate-Session-Id": sid,
        "X-Rowgate-Auth-Method": "password",
    }


async def test_admin_routes_need_an_admin_role(server: RunningServer, http: aiohttp.ClientSession) -> None:
    for role, expected in (("admin", 200), ("member", 403)):
        token = access_token(server, role=role)
        async with http.get(
            f"{server.url}/admin-only/whoami", headers={"Authorization": f"Bearer {token}"}
        ) as response:
            assert response.status == expected


@pytest.mark.parametrize(
    ("authorization", "status", "code"),
    [
        (None, 401, "unauthorized"),
        ("Basic dXNlcjpwYXNz", 401, "unauthorized"),
        ("Bearer", 401, "invalid_token"),
        ("Bearer ", 401, "invalid_token"),
        ("Bearer not.a.jwt", 401, "invalid_token"),
        ("Bearer " + "a" * 9000, 401, "invalid_token"),
    ],
)
async def test_missing_or_bad_credentials_are_401_problems(
    server: RunningServer, http: aiohttp.ClientSession, authorization: str | None, status: int, code: str
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    async with http.get(f"{server.url}/api/whoami", headers=headers) as response:
        assert response.status == status
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        body = await response.json()
    assert body["code"] == code
    assert "a" * 100 not in str(body)


async def test_a_bad_token_on_a_public_route_still_gets_the_public_page_as_guest(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{server.url}/public/hello", headers={"Authorization": "Bearer broken"}) as response:
        assert response.status == 200


async def test_an_id_token_is_not_an_access_token(server: RunningServer, http: aiohttp.ClientSession) -> None:
    tokens = server.app[SERVICES].tokens
    id_token = tokens.issue_id(
        sub=str(uuid.uuid4()), sid=str(uuid.uuid4()), email="a@example.com", email_verified=True, auth_time=0
    ).token
    status, body = await whoami(http, server, {"Authorization": f"Bearer {id_token}"})
    assert status == 401
    assert body["code"] == "invalid_token"


async def test_revocation_reaches_a_second_instance_at_once(
    make_settings: SettingsFactory, start_rowgate: Start, upstream: str, http: aiohttp.ClientSession
) -> None:
    settings = make_settings(**ROUTES, **{"upstream.url": upstream})
    first = await start_rowgate(settings)
    second = await start_rowgate(settings)
    sid = str(uuid.uuid4())
    token = access_token(first, sid=sid)
    headers = {"Authorization": f"Bearer {token}"}
    assert (await whoami(http, second, headers))[0] == 200  # also puts the token in second's cache

    await first.app[SERVICES].revocations.revoke(sid)
    for server in (first, second):
        status, body = await whoami(http, server, headers)
        assert status == 401
        assert body["code"] == "token_revoked"


async def test_a_key_rotation_reaches_a_second_instance(
    make_settings: SettingsFactory, start_rowgate: Start, upstream: str, http: aiohttp.ClientSession
) -> None:
    settings = make_settings(**ROUTES, **{"upstream.url": upstream})
    first = await start_rowgate(settings)
    second = await start_rowgate(settings)
    old = access_token(first)
    new_kid = (await first.app[SERVICES].keys.rotate(at_once=True))[-1].kid  # the emergency rotation
    for _ in range(50):
        if second.app[SERVICES].tokens.keyring.signing.kid == new_kid:
            break
        await asyncio.sleep(0.05)
    token = access_token(first)
    assert (await whoami(http, second, {"Authorization": f"Bearer {token}"}))[0] == 200
    assert (await whoami(http, second, {"Authorization": f"Bearer {old}"}))[0] == 401  # old key retired
    async with http.get(f"{second.url}/.well-known/jwks.json") as response:
        kids = {key["kid"] for key in (await response.json())["keys"]}
    assert kids == {new_kid}


async def test_a_next_key_is_published_by_every_instance_before_it_signs(
    make_settings: SettingsFactory, start_rowgate: Start, upstream: str, http: aiohttp.ClientSession
) -> None:
    settings = make_settings(**ROUTES, **{"upstream.url": upstream, "tokens.jwks_max_age": "2m"})
    first = await start_rowgate(settings)
    second = await start_rowgate(settings)
    signing = first.app[SERVICES].tokens.keyring.signing.kid
    (published,) = await first.app[SERVICES].keys.rotate()
    assert published.event == "key.published"
    for _ in range(50):
        if published.kid in second.app[SERVICES].tokens.keyring.keys:
            break
        await asyncio.sleep(0.05)
    async with http.get(f"{second.url}/.well-known/jwks.json") as response:
        assert response.headers["Cache-Control"] == "public, max-age=120"
        kids = [key["kid"] for key in (await response.json(content_type=None))["keys"]]
    assert kids == [signing, published.kid]  # the active key first, then the next one
    token = access_token(second)
    assert jwt.get_unverified_header(token)["kid"] == signing  # the next key does not sign yet
    assert (await whoami(http, first, {"Authorization": f"Bearer {token}"}))[0] == 200


async def test_jwks_and_discovery_are_published(server: RunningServer, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{server.url}/.well-known/jwks.json") as response:
        assert response.status == 200
        assert response.headers["Cache-Control"] == "public, max-age=300"  # tokens.jwks_max_age
        jwks = await response.json(content_type=None)
    assert jwks["keys"]
    for key in jwks["keys"]:
        assert key["kty"] == "OKP"
        assert key["alg"] == "EdDSA"
        assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(key)
    async with http.get(f"{server.url}/.well-known/openid-configuration") as response:
        discovery = await response.json()
    assert discovery["issuer"] == server.app[SERVICES].settings.issuer
    assert discovery["jwks_uri"].endswith("/.well-known/jwks.json")


async def test_the_bearer_token_stays_with_rowgate_unless_forwarding_is_asked_for(
    make_settings: SettingsFactory, start_rowgate: Start, upstream: str, http: aiohttp.ClientSession
) -> None:
    for forward, expected in ((False, None), (True, "token")):
        server = await start_rowgate(
            make_settings(**ROUTES, **{"upstream.url": upstream, "upstream.forward_bearer": forward})
        )
        token = access_token(server)
        status, body = await whoami(http, server, {"Authorization": f"Bearer {token}"})
        assert status == 200
        received = body["headers"].get("Authorization")  # type: ignore[attr-defined]
        assert received == (f"Bearer {token}" if expected else None)
        assert body["identity"]["X-Rowgate-Role"] == "member"  # type: ignore[index]


async def test_other_authorization_schemes_reach_the_app(
    make_settings: SettingsFactory, start_rowgate: Start, upstream: str, http: aiohttp.ClientSession
) -> None:
    rules = {"routes.rules": [{"path": "/api/whoami", "level": "public"}]}
    server = await start_rowgate(make_settings(**rules, **{"upstream.url": upstream}))
    status, body = await whoami(http, server, {"Authorization": "Basic dXNlcjpwYXNz"})
    assert status == 200
    assert body["headers"]["Authorization"] == "Basic dXNlcjpwYXNz"  # type: ignore[index]
    assert body["identity"] == {"X-Rowgate-Auth-Method": "guest"}
