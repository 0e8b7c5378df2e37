"""API keys end to end: create, list, revoke, rotate; how a key acts on routes; every instance."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from rowgate.config import Settings
from rowgate.proxy.appkeys import SERVICES
from rowgate.proxy.demo import build_demo_app
from tests.conftest import RunningServer, SettingsFactory
from tests.proxy.authkit import FAST, PASSWORD, Api
from tests.tenancykit import Member, Tenancy, hear, heard

pytestmark = pytest.mark.integration

Start = Callable[[Settings], Awaitable[RunningServer]]
StartApp = Callable[[web.Application], Awaitable[str]]

ROUTES = {
    "routes.default": "deny",
    "routes.rules": [
        {"path": "/public/**", "level": "public"},
        {"path": "/api/whoami", "methods": ["GET"], "level": "authenticated", "permissions": ["tasks:read"]},
        {
            "path": "/api/whoami",
            "methods": ["DELETE"],
            "level": "authenticated",
            "permissions": ["tasks:delete"],
        },
        {"path": "/api/**", "level": "authenticated"},
        {"path": "/admin-only/**", "level": "admin"},
    ],
}


@pytest.fixture
async def settings(make_settings: SettingsFactory, start_app: StartApp) -> Settings:
    upstream = await start_app(build_demo_app())
    return make_settings(**ROUTES, **{"upstream.url": upstream})


@pytest.fixture
async def server(settings: Settings, start_rowgate: Start) -> RunningServer:
    return await start_rowgate(settings)


@pytest.fixture
def t(server: RunningServer, http: aiohttp.ClientSession) -> Tenancy:
    return Tenancy(server, http)


async def create_key(t: Tenancy, admin: Member, **body: Any) -> dict[str, Any]:
    answer = await t.call("POST", "/v1/auth/api-keys", admin, json={"name": "ci", "type": "secret", **body})
    assert answer.status == 201, answer.body
    return dict(answer.body)


def key_headers(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


async def test_a_key_is_shown_once_and_listed_without_its_secret(t: Tenancy) -> None:
    admin = await t.member()
    created = await create_key(t, admin, scopes=["tasks:read"])
    assert created["key"].startswith("rg_sk_")
    assert created["prefix"] == created["key"][:14]
    assert created["scopes"] == ["tasks:read"]
    assert created["status"] == "active"
    listed = await t.call("GET", "/v1/auth/api-keys", admin)
    assert listed.status == 200
    assert listed.headers["Cache-Control"] == "no-store"
    (key,) = listed.body["keys"]
    assert key["id"] == created["id"]
    assert key["prefix"] == created["prefix"]
    assert "key" not in key
    assert created["key"] not in str(listed.body)
    stored = await t.db.fetchrow("SELECT digest, prefix FROM rowgate.api_keys WHERE id = $1", created["id"])
    assert created["key"].encode() not in bytes(stored["digest"])
    assert len(stored["digest"]) == 32
    assert await t.audit(admin.org_id, "api_key.created")


async def test_a_secret_key_acts_for_its_tenant_with_its_scopes(t: Tenancy) -> None:
    admin = await t.member()
    full = await create_key(t, admin, scopes=["*"])
    reader = await create_key(t, admin, scopes=["tasks:read"])
    answer = await t.call(
        "GET", "/api/whoami", headers={**key_headers(full["key"]), "X-Rowgate-Org-Id": "spoofed"}
    )
    assert answer.status == 200
    assert answer.body["identity"] == {
        "X-Rowgate-Org-Id": admin.org_id,
        "X-Rowgate-Api-Key-Id": full["id"],
        "X-Rowgate-Auth-Method": "api_key",
    }
    assert not {name.lower() for name in answer.body["headers"]} & {"x-api-key"}  # the secret stays here
    assert full["key"] not in str(answer.body)
    assert (await t.call("GET", "/admin-only/whoami", headers=key_headers(full["key"]))).status == 200
    assert (await t.call("DELETE", "/api/whoami", headers=key_headers(full["key"]))).status == 200

    assert (await t.call("GET", "/api/whoami", headers=key_headers(reader["key"]))).status == 200
    refused = await t.call("DELETE", "/api/whoami", headers=key_headers(reader["key"]))
    assert refused.status == 403
    assert refused.body["code"] == "permission_denied"
    assert refused.body["missing"] == ["tasks:delete"]
    narrow_admin = await t.call("GET", "/admin-only/whoami", headers=key_headers(reader["key"]))
    assert narrow_admin.status == 403  # narrower than its creator: not the admin group


async def test_a_publishable_key_is_a_guest_of_its_tenant(t: Tenancy) -> None:
    admin = await t.member()
    created = await create_key(t, admin, type="publishable")
    assert created["key"].startswith("rg_pk_")
    assert (await t.call("GET", "/public/hello", headers=key_headers(created["key"]))).status == 200
    refused = await t.call("GET", "/api/hello", headers=key_headers(created["key"]))
    assert refused.status == 403
    assert refused.body["code"] == "publishable_key"
    with_scopes = await t.call(
        "POST",
        "/v1/auth/api-keys",
        admin,
        json={"name": "web", "type": "publishable", "scopes": ["tasks:read"]},
    )
    assert with_scopes.status == 422
    assert with_scopes.body["code"] == "publishable_key_scopes"


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("", "invalid_api_key"),
        ("nonsense", "invalid_api_key"),
        ("rg_sk_" + "a" * 46, "invalid_api_key"),
    ],
)
async def test_malformed_keys_are_401(t: Tenancy, header: str, code: str) -> None:
    answer = await t.call("GET", "/api/hello", headers=key_headers(header))
    assert answer.status == 401
    assert answer.body["code"] == code


async def test_an_unknown_well_formed_key_is_401_and_a_new_key_then_works_at_once_everywhere(
    t: Tenancy, settings: Settings, start_rowgate: Start
) -> None:
    from rowgate.auth.apikeys.format import generate

    second = await start_rowgate(settings)
    unknown = generate("secret").text
    for server in (t.server, second):
        answer = await t.call("GET", "/api/hello", headers=key_headers(unknown), server=server)
        assert (answer.status, answer.body["code"]) == (401, "invalid_api_key")
    admin = await t.member()
    before = heard(second)
    created = await create_key(t, admin)
    await hear(second, before, keys=1)
    # The second instance remembered this key as unknown; its creation announcement ends that.
    assert (
        await t.call("GET", "/api/hello", headers=key_headers(created["key"]), server=second)
    ).status == 200


async def test_revocation_reaches_a_second_instance_at_once(
    t: Tenancy, settings: Settings, start_rowgate: Start
) -> None:
    second = await start_rowgate(settings)
    admin = await t.member()
    created = await create_key(t, admin)
    headers = key_headers(created["key"])
    for server in (t.server, second):  # cached on both instances
        assert (await t.call("GET", "/api/hello", headers=headers, server=server)).status == 200
    before = heard(second)
    revoked = await t.call("DELETE", f"/v1/auth/api-keys/{created['id']}", admin)
    assert revoked.status == 204
    await hear(second, before, keys=1)
    for server in (second, t.server):
        answer = await t.call("GET", "/api/hello", headers=headers, server=server)
        assert (answer.status, answer.body["code"]) == (401, "api_key_revoked")
    assert (await t.call("GET", "/v1/auth/api-keys", admin)).body["keys"] == []
    again = await t.call("DELETE", f"/v1/auth/api-keys/{created['id']}", admin)
    assert again.status == 404
    assert await t.audit(admin.org_id, "api_key.revoked")


async def test_rotation_keeps_the_old_key_until_the_grace_period_ends(
    t: Tenancy, settings: Settings, start_rowgate: Start
) -> None:
    second = await start_rowgate(settings)
    admin = await t.member()
    old = await create_key(t, admin, scopes=["tasks:read"])
    assert (await t.call("GET", "/api/whoami", headers=key_headers(old["key"]), server=second)).status == 200

    before = heard(second)
    rotated = await t.call("POST", f"/v1/auth/api-keys/{old['id']}/rotate", admin, json={"gracePeriod": "1h"})
    assert rotated.status == 201, rotated.body
    await hear(second, before, keys=2)
    new = rotated.body
    assert new["key"] != old["key"]
    assert new["scopes"] == ["tasks:read"]
    assert new["previous"]["id"] == old["id"]
    assert new["previous"]["replacedBy"] == new["id"]
    assert new["previous"]["status"] == "rotating"
    for server in (t.server, second):
        for key in (old["key"], new["key"]):
            assert (await t.call("GET", "/api/whoami", headers=key_headers(key), server=server)).status == 200

    again = await t.call("POST", f"/v1/auth/api-keys/{old['id']}/rotate", admin, json={"gracePeriod": 60})
    assert (again.status, again.body["code"]) == (409, "api_key_rotated")

    # Two hours later (each instance's clock moved on), the grace period has run out.
    for server in (t.server, second):
        server.app[SERVICES].tenancy.key_verifier.clock = lambda: time.time() + 7200
    for server in (t.server, second):
        answer = await t.call("GET", "/api/whoami", headers=key_headers(old["key"]), server=server)
        assert (answer.status, answer.body["code"]) == (401, "api_key_expired")
        assert (
            await t.call("GET", "/api/whoami", headers=key_headers(new["key"]), server=server)
        ).status == 200
    assert await t.audit(admin.org_id, "api_key.rotated")


async def test_rotation_without_grace_stops_the_old_key_at_once(t: Tenancy) -> None:
    admin = await t.member()
    old = await create_key(t, admin)
    assert (await t.call("GET", "/api/hello", headers=key_headers(old["key"]))).status == 200
    rotated = await t.call("POST", f"/v1/auth/api-keys/{old['id']}/rotate", admin, json={})
    assert rotated.status == 201
    answer = await t.call("GET", "/api/hello", headers=key_headers(old["key"]))
    assert (answer.status, answer.body["code"]) == (401, "api_key_revoked")
    assert (await t.call("GET", "/api/hello", headers=key_headers(rotated.body["key"]))).status == 200


async def test_an_expired_key_is_refused(t: Tenancy) -> None:
    admin = await t.member()
    created = await create_key(t, admin, expiresAt="2100-01-01T00:00:00Z")
    assert created["expiresAt"] == "2100-01-01T00:00:00Z"
    assert (await t.call("GET", "/api/hello", headers=key_headers(created["key"]))).status == 200
    t.server.app[SERVICES].tenancy.key_verifier.clock = lambda: 4102444801.0  # 2100-01-01T00:00:01Z
    answer = await t.call("GET", "/api/hello", headers=key_headers(created["key"]))
    assert (answer.status, answer.body["code"]) == (401, "api_key_expired")


async def test_key_scopes_narrow_when_the_creator_is_demoted_and_stop_when_removed(
    t: Tenancy, settings: Settings, start_rowgate: Start
) -> None:
    second = await start_rowgate(settings)
    owner = await t.member()
    creator = await t.member(owner.org_id, role="admin")
    created = await create_key(t, creator, scopes=["*"])
    headers = key_headers(created["key"])
    for server in (t.server, second):
        assert (await t.call("DELETE", "/api/whoami", headers=headers, server=server)).status == 200
        assert (await t.call("GET", "/admin-only/whoami", headers=headers, server=server)).status == 200

    before = heard(second)
    demoted = await t.call("PATCH", f"/v1/auth/members/{creator.user_id}", owner, json={"role": "viewer"})
    assert demoted.status == 200
    await hear(second, before, keys=1)
    for server in (t.server, second):
        # viewer: *:read; no admin group any more
        assert (await t.call("GET", "/api/whoami", headers=headers, server=server)).status == 200
        assert (await t.call("DELETE", "/api/whoami", headers=headers, server=server)).status == 403
        assert (await t.call("GET", "/admin-only/whoami", headers=headers, server=server)).status == 403

    before = heard(second)
    removed = await t.call("DELETE", f"/v1/auth/members/{creator.user_id}", owner)
    assert removed.status == 204
    await hear(second, before, keys=2)
    for server in (t.server, second):
        answer = await t.call("GET", "/api/whoami", headers=headers, server=server)
        assert answer.status == 401
        assert answer.body["code"] in ("api_key_revoked", "api_key_inactive")


async def test_scopes_beyond_the_creators_permissions_are_refused(t: Tenancy) -> None:
    owner = await t.member()
    custom = await t.call(
        "POST", "/v1/rbac/roles", owner, json={"name": "keymaster", "permissions": ["tasks:read"]}
    )
    assert custom.status == 201
    answer = await t.call(
        "POST", "/v1/auth/api-keys", owner, json={"name": "x", "type": "secret", "scopes": ["*"]}
    )
    assert answer.status == 201
    member = await t.member(owner.org_id, role="member")
    refused = await t.call("POST", "/v1/auth/api-keys", member, json={"name": "x", "type": "secret"})
    assert (refused.status, refused.body["code"]) == (403, "admin_required")


async def test_usage_is_counted_in_memory_and_written_in_batches(t: Tenancy) -> None:
    admin = await t.member()
    created = await create_key(t, admin)
    for _ in range(5):
        assert (await t.call("GET", "/api/hello", headers=key_headers(created["key"]))).status == 200
    unwritten = await t.db.fetchrow(
        "SELECT use_count, last_used_at FROM rowgate.api_keys WHERE id = $1", created["id"]
    )
    assert unwritten["use_count"] == 0  # nothing written per request
    assert unwritten["last_used_at"] is None
    (key,) = (await t.call("GET", "/v1/auth/api-keys", admin)).body["keys"]  # listing writes first
    assert key["useCount"] == 5
    assert key["lastUsedAt"] is not None


async def test_a_cached_key_needs_no_database(t: Tenancy, monkeypatch: pytest.MonkeyPatch) -> None:
    admin = await t.member()
    created = await create_key(t, admin)
    headers = key_headers(created["key"])
    assert (await t.call("GET", "/api/hello", headers=headers)).status == 200

    async def refuse(*args: Any) -> Any:
        raise AssertionError("the database was asked")

    monkeypatch.setattr(t.server.app[SERVICES].db, "fetchrow", refuse)
    for _ in range(3):
        assert (await t.call("GET", "/api/hello", headers=headers)).status == 200


async def test_concurrent_first_uses_share_one_lookup(t: Tenancy, monkeypatch: pytest.MonkeyPatch) -> None:
    admin = await t.member()
    created = await create_key(t, admin)
    verifier = t.server.app[SERVICES].tenancy.key_verifier
    db = t.server.app[SERVICES].db
    real = db.fetchrow
    calls = 0

    async def counting(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return await real(*args)

    monkeypatch.setattr(db, "fetchrow", counting)
    principals = await asyncio.gather(*(verifier.authenticate(created["key"]) for _ in range(10)))
    assert calls == 1
    assert {p.api_key_id for p in principals} == {created["id"]}


async def test_the_number_of_live_keys_is_capped(
    make_settings: SettingsFactory, start_rowgate: Start, http: aiohttp.ClientSession
) -> None:
    server = await start_rowgate(make_settings(**{"api_keys.max_per_org": 2}))
    t = Tenancy(server, http)
    admin = await t.member()
    for _ in range(2):
        await create_key(t, admin)
    refused = await t.call("POST", "/v1/auth/api-keys", admin, json={"name": "x", "type": "secret"})
    assert (refused.status, refused.body["code"]) == (409, "too_many_keys")


BAD_CREATE_BODIES: list[Any] = [
    {"name": "x"},
    {"name": "x", "type": "admin"},
    {"name": "", "type": "secret"},
    {"name": "x" * 101, "type": "secret"},
    {"name": "a\nb", "type": "secret"},
    {"name": "x", "type": "secret", "scopes": "tasks:read"},
    {"name": "x", "type": "secret", "scopes": ["tasks"]},
    {"name": "x", "type": "secret", "scopes": ["tasks:read:all"]},
    {"name": "x", "type": "secret", "scopes": ["tasks: read"]},
    {"name": "x", "type": "secret", "scopes": ["*:*:*"]},
    {"name": "x", "type": "secret", "scopes": [1]},
    {"name": "x", "type": "secret", "scopes": ["a:b"] * 201},
    {"name": "x", "type": "secret", "expiresAt": "2000-01-01T00:00:00Z"},
    {"name": "x", "type": "secret", "expiresAt": "2100-01-01T00:00:00"},
    {"name": "x", "type": "secret", "expiresAt": 4102444800},
    {"name": "x", "type": "secret", "expiresAt": "soon"},
    {"name": "x", "type": "secret", "orgId": "00000000-0000-0000-0000-000000000000"},
    [],
    "rg_sk_",
]


async def test_bad_create_bodies_are_422(t: Tenancy) -> None:
    admin = await t.member()
    answers = [
        (body, await t.call("POST", "/v1/auth/api-keys", admin, json=body)) for body in BAD_CREATE_BODIES
    ]
    assert [(body, a.status) for body, a in answers if a.status != 422] == []
    assert (await t.call("GET", "/v1/auth/api-keys", admin)).body["keys"] == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"gracePeriod": -1}, "validation_failed"),
        ({"gracePeriod": "forever"}, "validation_failed"),
        ({"gracePeriod": True}, "validation_failed"),
        ({"gracePeriod": "30d"}, "grace_period_too_long"),
    ],
)
async def test_bad_rotations_are_4xx(t: Tenancy, body: Any, code: str) -> None:
    admin = await t.member()
    created = await create_key(t, admin)
    answer = await t.call("POST", f"/v1/auth/api-keys/{created['id']}/rotate", admin, json=body)
    assert answer.status == 422
    assert answer.body["code"] == code


async def test_malformed_json_and_bad_ids_are_4xx(t: Tenancy) -> None:
    admin = await t.member()
    bad_json = await t.call(
        "POST", "/v1/auth/api-keys", admin, data="{", headers={"Content-Type": "application/json"}
    )
    assert bad_json.status == 400
    huge = await t.call(
        "POST", "/v1/auth/api-keys", admin, data="x" * 70_000, headers={"Content-Type": "application/json"}
    )
    assert huge.status == 413
    for bad in ("not-a-uuid", "00000000-0000-0000-0000-00000000000Z", "1' OR '1'='1", "%00"):
        assert (await t.call("DELETE", f"/v1/auth/api-keys/{bad}", admin)).status == 404
        assert (await t.call("POST", f"/v1/auth/api-keys/{bad}/rotate", admin, json={})).status == 404


async def test_keys_cannot_manage_keys(t: Tenancy) -> None:
    admin = await t.member()
    created = await create_key(t, admin)
    answer = await t.call("GET", "/v1/auth/api-keys", headers=key_headers(created["key"]))
    assert (answer.status, answer.body["code"]) == (403, "user_required")
    anonymous = await t.call("GET", "/v1/auth/api-keys")
    assert anonymous.status == 401


async def test_keys_stop_on_every_instance_when_their_creator_deletes_the_account(
    make_settings: SettingsFactory, start_rowgate: Start, start_app: StartApp, http: aiohttp.ClientSession
) -> None:
    upstream = await start_app(build_demo_app())
    settings = make_settings(**FAST, **ROUTES, **{"upstream.url": upstream})
    first, second = await start_rowgate(settings), await start_rowgate(settings)
    api = Api(http, first)
    signup = await api.signup("leaver@example.com", org_name="Acme")
    assert signup.status == 201
    t = Tenancy(first, http)
    leaver = Member("", "", "", "admin", "", signup.body["accessToken"])
    created = await create_key(t, leaver)
    org_id = str(await t.db.fetchval("SELECT org_id FROM rowgate.api_keys WHERE id = $1", created["id"]))
    stayer = await t.member(org_id)  # the organisation outlives the leaver
    headers = key_headers(created["key"])
    for server in (first, second):
        assert (await t.call("GET", "/api/hello", headers=headers, server=server)).status == 200

    before = heard(second)
    gone = await api.call("DELETE", "/withdraw", {"password": PASSWORD}, token=leaver.token)
    assert gone.status == 204, gone.body
    await hear(second, before, keys=1)
    for server in (first, second):
        answer = await t.call("GET", "/api/hello", headers=headers, server=server)
        assert (answer.status, answer.body["code"]) == (401, "api_key_inactive")
    (listed,) = (await t.call("GET", "/v1/auth/api-keys", stayer)).body["keys"]
    assert (listed["status"], listed["createdBy"]) == ("inactive", None)
