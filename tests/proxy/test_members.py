"""Members: list, change roles, remove; the last admin stays; demotion and removal bite at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from rowgate.config import Settings
from rowgate.proxy.demo import build_demo_app
from tests.conftest import RunningServer, SettingsFactory
from tests.tenancykit import Tenancy

pytestmark = pytest.mark.integration

Start = Callable[[Settings], Awaitable[RunningServer]]
StartApp = Callable[[web.Application], Awaitable[str]]

ROUTES = {
    "routes.rules": [
        {"path": "/api/**", "level": "authenticated"},
        {"path": "/admin-only/**", "level": "admin"},
    ]
}


@pytest.fixture
async def server(make_settings: SettingsFactory, start_rowgate: Start, start_app: StartApp) -> RunningServer:
    upstream = await start_app(build_demo_app())
    return await start_rowgate(make_settings(**ROUTES, **{"upstream.url": upstream}))


@pytest.fixture
def t(server: RunningServer, http: aiohttp.ClientSession) -> Tenancy:
    return Tenancy(server, http)


async def test_admins_list_the_members_of_their_organisation_only(t: Tenancy) -> None:
    admin = await t.member()
    member = await t.member(admin.org_id, role="viewer")
    await t.member()  # someone in another organisation
    answer = await t.call("GET", "/v1/auth/members", admin)
    assert answer.status == 200
    listed = {m["userId"]: m for m in answer.body["members"]}
    assert set(listed) == {admin.user_id, member.user_id}
    assert listed[member.user_id]["role"] == "viewer"
    assert listed[member.user_id]["email"] == member.email
    refused = await t.call("GET", "/v1/auth/members", member)
    assert (refused.status, refused.body["code"]) == (403, "admin_required")


async def test_members_come_a_page_at_a_time_in_the_order_they_joined(t: Tenancy) -> None:
    admin = await t.member()
    joined = [admin.user_id]
    for _ in range(6):
        user_id, _email = await t.user()
        await t.join(admin.org_id, user_id, "viewer")
        joined.append(user_id)
    await t.db.execute(  # two members joining in the same instant still get an order
        "UPDATE rowgate.memberships SET created_at = (SELECT max(created_at) FROM rowgate.memberships "
        "WHERE org_id = $1) WHERE org_id = $1 AND user_id = $2",
        admin.org_id,
        joined[-2],
    )
    seen: list[str] = []
    pages = 0
    cursor: str | None = None
    while True:
        query = "?limit=3" + (f"&cursor={cursor}" if cursor else "")
        answer = await t.call("GET", "/v1/auth/members" + query, admin)
        assert answer.status == 200, answer.body
        assert len(answer.body["members"]) <= 3
        seen += [m["userId"] for m in answer.body["members"]]
        pages += 1
        cursor = answer.body["next"]
        if cursor is None:
            break
    assert pages == 3
    assert sorted(seen) == sorted(joined)
    assert len(seen) == len(set(seen)) == 7
    whole = await t.call("GET", "/v1/auth/members", admin)
    assert [m["userId"] for m in whole.body["members"]] == seen
    assert whole.body["next"] is None


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("?limit=0", "invalid_limit"),
        ("?limit=501", "invalid_limit"),
        ("?limit=-1", "invalid_limit"),
        ("?limit=ten", "invalid_limit"),
        ("?limit=%EF%BC%93", "invalid_limit"),  # a fullwidth digit
        ("?cursor=not-a-cursor", "invalid_cursor"),
        ("?cursor=%00%ff", "invalid_cursor"),
        ("?cursor=MjAyNi0xMS0yM1QxMDowMDowMHxub3QtYS11dWlk", "invalid_cursor"),  # "<time>|not-a-uuid"
        ("?cursor=" + "A" * 5000, "invalid_cursor"),
    ],
)
async def test_bad_page_parameters_are_400_problems(t: Tenancy, query: str, code: str) -> None:
    admin = await t.member()
    answer = await t.call("GET", "/v1/auth/members" + query, admin)
    assert (answer.status, answer.body["code"]) == (400, code)
    assert answer.headers["Content-Type"] == "application/problem+json"


async def test_a_demotion_revokes_the_members_sessions_in_that_organisation(t: Tenancy) -> None:
    admin = await t.member()
    other = await t.member(admin.org_id, role="admin")
    elsewhere = await t.sign_in(other.user_id, other.email, await t.org(), "admin")
    await t.join(elsewhere.org_id, other.user_id, "admin")
    assert (await t.call("GET", "/admin-only/whoami", other)).status == 200

    answer = await t.call("PATCH", f"/v1/auth/members/{other.user_id}", admin, json={"role": "member"})
    assert answer.status == 200
    assert answer.body["role"] == "member"
    refused = await t.call("GET", "/admin-only/whoami", other)
    assert (refused.status, refused.body["code"]) == (401, "token_revoked")
    assert (await t.call("GET", "/admin-only/whoami", elsewhere)).status == 200  # another organisation
    (event,) = await t.audit(admin.org_id, "member.role_changed")
    assert '"from": "admin"' in event["details"]
    assert '"to": "member"' in event["details"]


async def test_a_promotion_revokes_nothing(t: Tenancy) -> None:
    admin = await t.member()
    member = await t.member(admin.org_id, role="viewer")
    answer = await t.call("PATCH", f"/v1/auth/members/{member.user_id}", admin, json={"role": "admin"})
    assert answer.status == 200
    assert (await t.call("GET", "/api/whoami", member)).status == 200


async def test_the_last_admin_can_be_neither_demoted_nor_removed(t: Tenancy) -> None:
    admin = await t.member()
    member = await t.member(admin.org_id, role="member")
    for method, body in (("PATCH", {"role": "member"}), ("DELETE", None)):
        answer = await t.call(method, f"/v1/auth/members/{admin.user_id}", admin, json=body)
        assert (answer.status, answer.body["code"]) == (409, "last_admin")
    assert (
        await t.call("POST", "/v1/rbac/assign", admin, json={"userId": admin.user_id, "role": "viewer"})
    ).status == 409
    left = await t.call("DELETE", f"/v1/auth/members/{member.user_id}", member)  # a member may leave
    assert left.status == 204


async def test_two_admins_demoting_each_other_at_once_leave_one_admin(t: Tenancy) -> None:
    first = await t.member()
    second = await t.member(first.org_id, role="admin")
    answers = await asyncio.gather(
        t.call("PATCH", f"/v1/auth/members/{second.user_id}", first, json={"role": "member"}),
        t.call("PATCH", f"/v1/auth/members/{first.user_id}", second, json={"role": "member"}),
    )
    assert sorted(a.status for a in answers) in ([200, 403], [200, 409], [200, 401])
    admins = await t.db.fetchval(
        "SELECT count(*) FROM rowgate.memberships WHERE org_id = $1 AND role = 'admin'", first.org_id
    )
    assert admins == 1


async def test_removal_revokes_sessions_and_the_member_can_no_longer_act(t: Tenancy) -> None:
    admin = await t.member()
    other = await t.member(admin.org_id, role="admin")
    answer = await t.call("DELETE", f"/v1/auth/members/{other.user_id}", admin)
    assert answer.status == 204
    refused = await t.call("GET", "/v1/auth/members", other)
    assert refused.status == 401
    assert await t.audit(admin.org_id, "member.removed")


async def test_a_stale_token_of_a_removed_admin_cannot_manage(t: Tenancy) -> None:
    admin = await t.member()
    other = await t.member(admin.org_id, role="admin")
    # Removed behind rowgate's back (no session revoked): the database is asked on every call.
    await t.db.execute("DELETE FROM rowgate.memberships WHERE user_id = $1", other.user_id)
    refused = await t.call("GET", "/v1/auth/members", other)
    assert (refused.status, refused.body["code"]) == (403, "not_a_member")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"role": "owner"}, 422, "unknown_role"),
        ({"role": "Admin"}, 422, "validation_failed"),
        ({"role": 1}, 422, "validation_failed"),
        ({}, 422, "validation_failed"),
        ({"role": "member", "orgId": "x"}, 422, "validation_failed"),
    ],
)
async def test_bad_role_changes_are_4xx(t: Tenancy, body: object, status: int, code: str) -> None:
    admin = await t.member()
    member = await t.member(admin.org_id, role="member")
    answer = await t.call("PATCH", f"/v1/auth/members/{member.user_id}", admin, json=body)
    assert (answer.status, answer.body["code"]) == (status, code)


async def test_unknown_members_are_404(t: Tenancy) -> None:
    admin = await t.member()
    for bad in ("nope", "00000000-0000-0000-0000-000000000000"):
        assert (
            await t.call("PATCH", f"/v1/auth/members/{bad}", admin, json={"role": "member"})
        ).status == 404
        assert (await t.call("DELETE", f"/v1/auth/members/{bad}", admin)).status == 404
