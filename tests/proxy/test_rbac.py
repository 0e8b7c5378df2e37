"""Roles and permissions: built-in and custom roles, their CRUD, and enforcement on routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from rowgate.config import Settings
from rowgate.proxy.demo import build_demo_app
from tests.conftest import RunningServer, SettingsFactory
from tests.tenancykit import Tenancy, hear, heard

pytestmark = pytest.mark.integration

Start = Callable[[Settings], Awaitable[RunningServer]]
StartApp = Callable[[web.Application], Awaitable[str]]

ROUTES = {
    "routes.rules": [
        {
            "path": "/api/whoami",
            "methods": ["GET"],
            "level": "authenticated",
            "permissions": ["reports:read"],
        },
        {
            "path": "/api/whoami",
            "methods": ["POST"],
            "level": "authenticated",
            "permissions": ["reports:read", "reports:export"],
        },
        {"path": "/api/**", "level": "authenticated"},
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


async def test_built_in_roles_are_enforced_on_routes(t: Tenancy) -> None:
    admin = await t.member()
    viewer = await t.member(admin.org_id, role="viewer")  # *:read
    member = await t.member(admin.org_id, role="member")  # no reports:*
    assert (await t.call("GET", "/api/whoami", admin)).status == 200
    assert (await t.call("POST", "/api/whoami", admin)).status == 200
    assert (await t.call("GET", "/api/whoami", viewer)).status == 200
    refused = await t.call("POST", "/api/whoami", viewer)
    assert (refused.status, refused.body["code"], refused.body["missing"]) == (
        403,
        "permission_denied",
        ["reports:export"],
    )
    assert (await t.call("GET", "/api/whoami", member)).status == 403
    assert (await t.call("GET", "/api/hello", member)).status == 200


async def test_custom_roles_crud_and_enforcement(t: Tenancy) -> None:
    admin = await t.member()
    created = await t.call(
        "POST",
        "/v1/rbac/roles",
        admin,
        json={"name": "analyst", "permissions": ["reports:*"], "description": "Reads and exports reports"},
    )
    assert created.status == 201, created.body
    assert created.body == {
        "name": "analyst",
        "permissions": ["reports:*"],
        "description": "Reads and exports reports",
        "builtin": False,
        "admin": False,
        "updatedAt": created.body["updatedAt"],
    }
    listed = await t.call("GET", "/v1/rbac/roles", admin)
    names = {r["name"]: r for r in listed.body["roles"]}
    assert set(names) == {"admin", "member", "viewer", "analyst"}
    assert names["admin"]["builtin"]
    assert names["admin"]["admin"]

    analyst = await t.member(admin.org_id, role="member")
    assigned = await t.call(
        "POST", "/v1/rbac/assign", admin, json={"userId": analyst.user_id, "role": "analyst"}
    )
    assert (assigned.status, assigned.body["role"]) == (200, "analyst")
    analyst = await t.sign_in(analyst.user_id, analyst.email, admin.org_id, "analyst")  # a new token
    assert (await t.call("GET", "/api/whoami", analyst)).status == 200
    assert (await t.call("POST", "/api/whoami", analyst)).status == 200

    # Narrowing the role takes effect on the next request (no new token needed).
    updated = await t.call("PUT", "/v1/rbac/roles/analyst", admin, json={"permissions": ["reports:read"]})
    assert (updated.status, updated.body["permissions"]) == (200, ["reports:read"])
    assert (await t.call("GET", "/api/whoami", analyst)).status == 200
    assert (await t.call("POST", "/api/whoami", analyst)).status == 403

    in_use = await t.call("DELETE", "/v1/rbac/roles/analyst", admin)
    assert (in_use.status, in_use.body["code"]) == (409, "role_in_use")
    await t.call("POST", "/v1/rbac/assign", admin, json={"userId": analyst.user_id, "role": "viewer"})
    assert (await t.call("DELETE", "/v1/rbac/roles/analyst", admin)).status == 204
    assert (await t.call("DELETE", "/v1/rbac/roles/analyst", admin)).status == 404
    for event in ("role.created", "role.updated", "role.deleted"):
        assert await t.audit(admin.org_id, event), event


async def test_a_custom_role_change_reaches_a_second_instance(
    t: Tenancy, settings: Settings, start_rowgate: Start
) -> None:
    second = await start_rowgate(settings)
    admin = await t.member()
    await t.call("POST", "/v1/rbac/roles", admin, json={"name": "analyst", "permissions": ["reports:*"]})
    analyst = await t.member(admin.org_id, role="analyst")
    assert (await t.call("POST", "/api/whoami", analyst, server=second)).status == 200
    before = heard(second)
    await t.call("PUT", "/v1/rbac/roles/analyst", admin, json={"permissions": []})
    await hear(second, before, roles=1)
    assert (await t.call("GET", "/api/whoami", analyst, server=second)).status == 403


async def test_nobody_grants_what_they_do_not_hold(t: Tenancy) -> None:
    owner = await t.member()
    await t.call("POST", "/v1/rbac/roles", owner, json={"name": "reader", "permissions": ["*:read"]})
    member = await t.member(owner.org_id, role="member")
    refused = await t.call("POST", "/v1/rbac/roles", member, json={"name": "x", "permissions": ["*"]})
    assert (refused.status, refused.body["code"]) == (403, "admin_required")
    assert (await t.call("GET", "/v1/rbac/roles", member)).status == 200  # members may read


async def test_built_in_roles_are_not_editable(t: Tenancy) -> None:
    admin = await t.member()
    for method, path, body, code in (
        ("POST", "/v1/rbac/roles", {"name": "admin", "permissions": []}, "role_exists"),
        ("PUT", "/v1/rbac/roles/viewer", {"permissions": ["*"]}, "builtin_role"),
        ("DELETE", "/v1/rbac/roles/member", None, "builtin_role"),
    ):
        answer = await t.call(method, path, admin, json=body)
        assert (answer.status, answer.body["code"]) == (409, code)
    await t.call("POST", "/v1/rbac/roles", admin, json={"name": "ops", "permissions": []})
    again = await t.call("POST", "/v1/rbac/roles", admin, json={"name": "ops", "permissions": []})
    assert (again.status, again.body["code"]) == (409, "role_exists")


async def test_the_permission_catalogue(t: Tenancy) -> None:
    admin = await t.member()
    await t.call(
        "POST", "/v1/rbac/roles", admin, json={"name": "ops", "permissions": ["deploys:run", "logs:*"]}
    )
    viewer = await t.member(admin.org_id, role="viewer")
    answer = await t.call("GET", "/v1/rbac/permissions", viewer)
    assert answer.status == 200
    tables = {
        f"{t}:{a}" for t in ("tasks", "projects", "posts") for a in ("read", "create", "update", "delete")
    }
    assert answer.body["permissions"] == sorted(
        {*tables, "reports:read", "reports:export", "deploys:run"}  # roles', routes' and tables'
    )
    assert answer.body["granted"] == ["*:read"]


BAD_ROLE_BODIES: list[Any] = [
    {"name": "Bad Name", "permissions": []},
    {"name": "ok", "permissions": ["nope"]},
    {"name": "ok", "permissions": "tasks:read"},
    {"name": "ok"},
    {"name": "ok", "permissions": [], "description": "x" * 501},
    {"name": "ok", "permissions": [], "admin": True},
    {"name": "ok", "permissions": ["a:b"] * 201},
    {"name": "x" * 41, "permissions": []},
    ["ok"],
]


async def test_bad_role_bodies_are_422(t: Tenancy) -> None:
    admin = await t.member()
    answers = [(body, await t.call("POST", "/v1/rbac/roles", admin, json=body)) for body in BAD_ROLE_BODIES]
    assert [(body, a.status) for body, a in answers if a.status != 422] == []


async def test_custom_roles_are_capped(
    make_settings: SettingsFactory, start_rowgate: Start, http: aiohttp.ClientSession
) -> None:
    t = Tenancy(await start_rowgate(make_settings(**{"rbac.max_custom_roles": 1})), http)
    admin = await t.member()
    assert (
        await t.call("POST", "/v1/rbac/roles", admin, json={"name": "a", "permissions": []})
    ).status == 201
    refused = await t.call("POST", "/v1/rbac/roles", admin, json={"name": "b", "permissions": []})
    assert (refused.status, refused.body["code"]) == (409, "too_many_roles")


async def test_assigning_an_unknown_role_or_user_is_refused(t: Tenancy) -> None:
    admin = await t.member()
    member = await t.member(admin.org_id, role="member")
    unknown_role = await t.call(
        "POST", "/v1/rbac/assign", admin, json={"userId": member.user_id, "role": "ghost"}
    )
    assert (unknown_role.status, unknown_role.body["code"]) == (422, "unknown_role")
    unknown_user = await t.call("POST", "/v1/rbac/assign", admin, json={"userId": "x", "role": "viewer"})
    assert unknown_user.status == 404


async def test_an_admin_role_with_limited_permissions_cannot_grant_beyond_them(
    make_settings: SettingsFactory, start_rowgate: Start, http: aiohttp.ClientSession
) -> None:
    roles = {"admin": ["tasks:*", "projects:read"], "member": ["tasks:read"], "viewer": ["*:read"]}
    t = Tenancy(await start_rowgate(make_settings(**{"rbac.roles": roles})), http)
    admin = await t.member()
    member = await t.member(admin.org_id, role="member")
    attempts = [
        ("POST", "/v1/rbac/roles", {"name": "biller", "permissions": ["billing:*"]}),
        ("POST", "/v1/rbac/roles", {"name": "all", "permissions": ["*"]}),
        ("POST", "/v1/auth/api-keys", {"name": "k", "type": "secret", "scopes": ["*"]}),
        ("POST", "/v1/auth/api-keys", {"name": "k", "type": "secret", "scopes": ["projects:*"]}),
        ("POST", "/v1/rbac/assign", {"userId": member.user_id, "role": "viewer"}),
        ("PATCH", f"/v1/auth/members/{member.user_id}", {"role": "viewer"}),
        ("POST", "/v1/auth/invitations", {"email": "v@example.com", "role": "viewer"}),
    ]
    for method, path, body in attempts:
        answer = await t.call(method, path, admin, json=body)
        assert (answer.status, answer.body["code"]) == (403, "permission_escalation"), (path, body)
    allowed = await t.call(
        "POST", "/v1/auth/api-keys", admin, json={"name": "k", "type": "secret", "scopes": ["tasks:*"]}
    )
    assert allowed.status == 201
    assert (
        await t.call("POST", "/v1/rbac/roles", admin, json={"name": "t", "permissions": ["tasks:read"]})
    ).status == 201
