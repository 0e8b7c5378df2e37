"""Tenant isolation: an admin of organisation A, naming anything of organisation B, gets a 404
(never a 403 that would confirm it exists), B is left as it was, and no list of A shows B.

One table of attempts, one per endpoint that takes an id; each runs against the same two
organisations and must answer 404 with the endpoint's own "not found" code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from rowgate.config import Settings
from tests.conftest import RunningServer, SettingsFactory
from tests.tenancykit import Member, Tenancy

pytestmark = pytest.mark.integration

Start = Callable[[Settings], Awaitable[RunningServer]]


@dataclass
class Other:
    """Organisation B as A's admin might try to reach it."""

    admin: Member
    member: Member
    key_id: str
    key: str
    role: str
    invitation_id: str | None = None


@dataclass(frozen=True)
class Attempt:
    name: str
    method: str
    path: Callable[[Other], str]
    body: Callable[[Other], Any] = lambda other: None


ATTEMPTS = (
    Attempt("revoke B's API key", "DELETE", lambda o: f"/v1/auth/api-keys/{o.key_id}"),
    Attempt("rotate B's API key", "POST", lambda o: f"/v1/auth/api-keys/{o.key_id}/rotate", lambda o: {}),
    Attempt(
        "change the role of B's member",
        "PATCH",
        lambda o: f"/v1/auth/members/{o.member.user_id}",
        lambda o: {"role": "viewer"},
    ),
    Attempt("remove B's member", "DELETE", lambda o: f"/v1/auth/members/{o.member.user_id}"),
    Attempt("remove B's admin", "DELETE", lambda o: f"/v1/auth/members/{o.admin.user_id}"),
    Attempt(
        "assign a role to B's member",
        "POST",
        lambda o: "/v1/rbac/assign",
        lambda o: {"userId": o.member.user_id, "role": "viewer"},
    ),
    Attempt(
        "edit B's custom role", "PUT", lambda o: f"/v1/rbac/roles/{o.role}", lambda o: {"permissions": ["*"]}
    ),
    Attempt("delete B's custom role", "DELETE", lambda o: f"/v1/rbac/roles/{o.role}"),
    Attempt("revoke B's invitation", "DELETE", lambda o: f"/v1/auth/invitations/{o.invitation_id}"),
    Attempt("end a session of B's member", "DELETE", lambda o: f"/v1/auth/sessions/{o.member.session_id}"),
    Attempt("end a session of B's admin", "DELETE", lambda o: f"/v1/auth/sessions/{o.admin.session_id}"),
    Attempt("list B's member's sessions", "GET", lambda o: f"/v1/admin/users/{o.member.user_id}/sessions"),
    Attempt("end B's member's sessions", "DELETE", lambda o: f"/v1/admin/users/{o.member.user_id}/sessions"),
    Attempt(
        "end a session of B's admin as an admin",
        "DELETE",
        lambda o: f"/v1/admin/users/{o.admin.user_id}/sessions/{o.admin.session_id}",
    ),
)


@pytest.fixture
async def t(make_settings: SettingsFactory, start_rowgate: Start, http: aiohttp.ClientSession) -> Tenancy:
    return Tenancy(await start_rowgate(make_settings()), http)


async def organisation_b(t: Tenancy) -> Other:
    admin = await t.member()
    member = await t.member(admin.org_id, role="member")
    role = await t.call(
        "POST", "/v1/rbac/roles", admin, json={"name": "b-secret-role", "permissions": ["b:*"]}
    )
    assert role.status == 201
    key = await t.call(
        "POST", "/v1/auth/api-keys", admin, json={"name": "b", "type": "secret", "scopes": ["*"]}
    )
    assert key.status == 201
    invitation = await t.call(
        "POST", "/v1/auth/invitations", admin, json={"email": "b-invitee@example.com", "role": "member"}
    )
    assert invitation.status == 201
    return Other(admin, member, key.body["id"], key.body["key"], "b-secret-role", invitation.body["id"])


async def test_every_id_of_another_organisation_is_not_found(t: Tenancy) -> None:
    other = await organisation_b(t)
    admin = await t.member()  # organisation A
    # A member of both organisations, signed in to A: being in B gives A's token no reach into B.
    both = await t.member(admin.org_id, role="admin")
    await t.join(other.admin.org_id, both.user_id, "admin")
    leaks = {}
    for who in (admin, both):
        for attempt in ATTEMPTS:
            answer = await t.call(attempt.method, attempt.path(other), who, json=attempt.body(other))
            if answer.status != 404:
                leaks[(who.email, attempt.name)] = (answer.status, answer.body)
    assert leaks == {}
    # B is untouched: its key works, its member keeps their role, its role its permissions.
    assert (await t.call("GET", "/v1/auth/api-keys", other.admin)).body["keys"][0]["id"] == other.key_id
    members = (await t.call("GET", "/v1/auth/members", other.admin)).body["members"]
    assert {m["userId"]: m["role"] for m in members}[other.member.user_id] == "member"
    roles = (await t.call("GET", "/v1/rbac/roles", other.admin)).body["roles"]
    assert {r["name"]: r["permissions"] for r in roles}[other.role] == ["b:*"]
    invitations = (await t.call("GET", "/v1/auth/invitations", other.admin)).body["invitations"]
    assert [i["id"] for i in invitations] == [other.invitation_id]
    for member in (other.admin, other.member):  # their sessions still work
        assert (await t.call("GET", "/v1/auth/me", member)).status == 200


async def test_switching_into_another_organisation_is_not_found(t: Tenancy) -> None:
    other = await organisation_b(t)
    admin = await t.member()
    answer = await t.call("POST", "/v1/auth/switch-org", admin, json={"orgId": other.admin.org_id})
    assert (answer.status, answer.body["code"]) == (404, "org_not_found")


async def test_no_list_shows_another_organisation(t: Tenancy) -> None:
    other = await organisation_b(t)
    admin = await t.member()
    seen = ""
    paths = (
        "/v1/auth/api-keys",
        "/v1/auth/members",
        "/v1/auth/invitations",
        "/v1/auth/orgs",
        "/v1/auth/sessions",
    )
    admin_paths = ("/v1/admin/users", "/v1/admin/audit")
    for path in (*paths, "/v1/rbac/roles", "/v1/rbac/permissions", *admin_paths):
        answer = await t.call("GET", path, admin)
        assert answer.status == 200, path
        seen += str(answer.body)
    for secret in (
        other.key_id,
        other.member.user_id,
        other.admin.user_id,
        other.role,
        "b:*",
        other.admin.email,
    ):
        assert secret not in seen


async def test_a_key_acts_only_in_its_own_organisation(t: Tenancy) -> None:
    other = await organisation_b(t)
    answer = await t.call(
        "GET", "/v1/auth/members", headers={"X-API-Key": other.key, "X-Rowgate-Org-Id": "a"}
    )
    assert answer.status == 403  # keys manage nothing, and no header picks another tenant


async def test_a_token_naming_an_organisation_the_user_is_not_in_acts_nowhere(t: Tenancy) -> None:
    other = await organisation_b(t)
    outsider = await t.member()
    forged = await t.sign_in(outsider.user_id, outsider.email, other.admin.org_id, "admin")
    answer = await t.call("GET", "/v1/auth/members", forged)
    assert (answer.status, answer.body["code"]) == (403, "not_a_member")
