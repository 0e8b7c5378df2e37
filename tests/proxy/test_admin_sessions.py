"""``/v1/admin/users``: the organisation's users (search, pages) and their sessions, which an
admin ends one at a time or all at once, on every instance at once; other organisations' ids are 404."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from rowgate.config import Settings
from tests.conftest import RunningServer, SettingsFactory
from tests.tenancykit import Member, Tenancy

pytestmark = pytest.mark.integration

Start = Callable[[Settings], Awaitable[RunningServer]]
USERS = "/v1/admin/users"


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings()


@pytest.fixture
async def server(settings: Settings, start_rowgate: Start) -> RunningServer:
    return await start_rowgate(settings)


@pytest.fixture
def t(server: RunningServer, http: aiohttp.ClientSession) -> Tenancy:
    return Tenancy(server, http)


async def me(t: Tenancy, who: Member, server: RunningServer | None = None) -> int:
    return (await t.call("GET", "/v1/auth/me", who, server=server)).status


async def test_admins_list_and_search_their_organisation_s_users_a_page_at_a_time(t: Tenancy) -> None:
    admin = await t.member(email="boss@example.com")
    members = [await t.member(admin.org_id, role="viewer", email=f"m{i}|x@example.com") for i in range(5)]
    await t.member(email="m9|x@example.com")  # another organisation's
    seen: list[str] = []
    cursor: str | None = None
    while True:
        query = "?limit=2&search=%7CX%40" + (f"&cursor={cursor}" if cursor else "")  # "|X@", any case
        answer = await t.call("GET", USERS + query, admin)
        assert answer.status == 200, answer.body
        seen += [u["email"] for u in answer.body["users"]]
        cursor = answer.body["next"]
        if cursor is None:
            break
    assert seen == sorted(m.email for m in members)
    first = (await t.call("GET", f"{USERS}?search=m0", admin)).body["users"]
    assert [(u["id"], u["role"], u["activeSessions"], u["emailVerified"]) for u in first] == [
        (members[0].user_id, "viewer", 1, True)
    ]
    refused = await t.call("GET", USERS, members[0])
    assert (refused.status, refused.body["code"]) == (403, "admin_required")


async def test_an_admin_sees_a_member_s_sessions_and_ends_one_on_every_instance(
    t: Tenancy, settings: Settings, start_rowgate: Start
) -> None:
    second = await start_rowgate(settings)
    admin = await t.member()
    member = await t.member(admin.org_id, role="viewer")
    laptop = member
    phone = await t.sign_in(member.user_id, member.email, member.org_id, member.role)
    assert await me(t, laptop, second) == 200  # known as valid on the second instance
    listed = await t.call("GET", f"{USERS}/{member.user_id}/sessions", admin)
    assert listed.status == 200
    assert {s["id"] for s in listed.body["sessions"]} == {laptop.session_id, phone.session_id}
    ended = await t.call("DELETE", f"{USERS}/{member.user_id}/sessions/{laptop.session_id}", admin)
    assert ended.status == 204
    for server in (t.server, second):
        answer = await t.call("GET", "/v1/auth/me", laptop, server=server)
        assert (answer.status, answer.body["code"]) == (401, "token_revoked")
        assert await me(t, phone, server) == 200
    again = await t.call("DELETE", f"{USERS}/{member.user_id}/sessions/{laptop.session_id}", admin)
    assert (again.status, again.body["code"]) == (404, "session_not_found")
    [recorded] = await t.audit(admin.org_id, "session.revoked_by_admin")
    assert recorded["user_id"] == admin.user_id
    assert laptop.session_id in recorded["details"]


async def test_an_admin_ends_all_of_a_member_s_sessions_at_once(
    t: Tenancy, settings: Settings, start_rowgate: Start
) -> None:
    second = await start_rowgate(settings)
    admin = await t.member()
    member = await t.member(admin.org_id, role="viewer")
    phone = await t.sign_in(member.user_id, member.email, member.org_id, member.role)
    elsewhere = await t.member(email=None)  # the member's session in another organisation stays
    await t.join(elsewhere.org_id, member.user_id, "viewer")
    there = await t.sign_in(member.user_id, member.email, elsewhere.org_id, "viewer")
    answer = await t.call("DELETE", f"{USERS}/{member.user_id}/sessions", admin)
    assert (answer.status, answer.body) == (200, {"revoked": 2})
    for server in (t.server, second):
        assert await me(t, member, server) == 401
        assert await me(t, phone, server) == 401
        assert await me(t, there, server) == 200
        assert await me(t, admin, server) == 200
    listed = await t.call("GET", f"{USERS}/{member.user_id}/sessions", admin)
    assert listed.body == {"sessions": []}


async def test_another_organisation_s_users_and_sessions_are_not_found(t: Tenancy) -> None:
    admin, stranger = await t.member(), await t.member()
    member = await t.member(admin.org_id, role="viewer")
    paths = [
        ("GET", f"{USERS}/{stranger.user_id}/sessions"),
        ("DELETE", f"{USERS}/{stranger.user_id}/sessions"),
        ("DELETE", f"{USERS}/{stranger.user_id}/sessions/{stranger.session_id}"),
        ("GET", f"{USERS}/not-a-uuid/sessions"),
        ("DELETE", f"{USERS}/not-a-uuid/sessions"),
    ]
    for method, path in paths:
        answer = await t.call(method, path, admin)
        assert (answer.status, answer.body["code"]) == (404, "member_not_found"), path
    for session in (stranger.session_id, "not-a-uuid", admin.session_id):  # not the member's
        answer = await t.call("DELETE", f"{USERS}/{member.user_id}/sessions/{session}", admin)
        assert (answer.status, answer.body["code"]) == (404, "session_not_found")
    assert await me(t, stranger) == 200
    assert await me(t, admin) == 200


async def test_members_who_are_not_admins_are_refused(t: Tenancy) -> None:
    admin = await t.member()
    viewer = await t.member(admin.org_id, role="viewer")
    for method, path in [
        ("GET", USERS),
        ("GET", f"{USERS}/{admin.user_id}/sessions"),
        ("DELETE", f"{USERS}/{admin.user_id}/sessions"),
        ("DELETE", f"{USERS}/{admin.user_id}/sessions/{admin.session_id}"),
    ]:
        answer = await t.call(method, path, viewer)
        assert (answer.status, answer.body["code"]) == (403, "admin_required"), path
        assert (await t.call(method, path)).status == 401
    assert await me(t, admin) == 200


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("?limit=0", "invalid_limit"),
        ("?limit=100000", "invalid_limit"),
        ("?cursor=@@@", "invalid_cursor"),
        ("?cursor=bm8tc2VwYXJhdG9y", "invalid_cursor"),  # "no-separator"
        ("?search=" + "x" * 101, "invalid_search"),
        ("?page=2", "unknown_parameter"),
    ],
)
async def test_bad_user_list_input_is_a_400_problem(t: Tenancy, query: str, code: str) -> None:
    admin = await t.member()
    answer = await t.call("GET", USERS + query, admin)
    assert (answer.status, answer.body["code"]) == (400, code), answer.body
