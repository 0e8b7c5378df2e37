"""An organisation that requires MFA, and route rules with ``mfa: true``, over HTTP."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.mfakit import Authenticator
from tests.proxy.authkit import PASSWORD, Api, Start, delivered, token_of
from tests.proxy.mfahttp import api, claims, enrolled, settings_for, signed_in_with_mfa, upstream

__all__ = ["api", "settings_for", "upstream"]  # fixtures

pytestmark = pytest.mark.integration
ADMIN, MEMBER = "ada@example.com", "dan@example.com"


async def joined(api: Api, admin_token: str, email: str) -> dict[str, Any]:
    """``email`` invited by the admin and joined with a password: their token set."""
    sent = await api.call("POST", "/invitations", {"email": email, "role": "member"}, token=admin_token)
    assert sent.status == 201, sent.body
    (mail,) = await delivered(api.server, email, "invited you to join")
    answer = await api.call("POST", "/invitations/accept", {"token": token_of(mail), "password": PASSWORD})
    assert answer.status == 200, answer.body
    return dict(answer.body)


async def set_policy(api: Api, token: str, policy: str) -> int:
    answer = await api.call("PUT", "/mfa/policy", {"mfaPolicy": policy}, token=token)
    return answer.status


async def test_members_of_an_organisation_that_requires_mfa_must_enrol_first(api: Api) -> None:
    _, phone, _ = await enrolled(api, ADMIN, orgName="Acme")
    admin = (await signed_in_with_mfa(api, ADMIN, phone))["accessToken"]
    assert await set_policy(api, admin, "all") == 200
    assert (await api.call("GET", "/mfa/policy", token=admin)).body == {"mfaPolicy": "all"}
    member = await joined(api, admin, MEMBER)
    assert claims(member["accessToken"])["mfa_enrolment_required"] is True
    # Nothing but enrolment: not the upstream, not the tenancy endpoints.
    assert await api.whoami(member["accessToken"]) == 403
    listed = await api.call("GET", "/members", token=member["accessToken"])
    assert (listed.status, listed.code) == (403, "mfa_enrolment_required")
    assert (await api.call("GET", "/me", token=member["accessToken"])).status == 200
    # Requiring it of admins only frees the member at their next refresh.
    assert await set_policy(api, admin, "admins") == 200
    renewed = await api.call("POST", "/refresh", {"refreshToken": member["refreshToken"]})
    assert "mfa_enrolment_required" not in claims(renewed.body["accessToken"])
    assert await api.whoami(renewed.body["accessToken"]) == 200
    # Back to all: the member enrols, and the refresh after that lets them in.
    assert await set_policy(api, admin, "all") == 200
    locked = await api.call("POST", "/refresh", {"refreshToken": renewed.body["refreshToken"]})
    stuck = locked.body["accessToken"]
    assert await api.whoami(stuck) == 403
    started = await api.call("POST", "/mfa/enable", {"password": PASSWORD}, token=stuck)
    assert started.status == 200
    dans_phone = Authenticator(started.body["secret"])
    assert (await api.call("POST", "/mfa/confirm", {"code": dans_phone.fresh()}, token=stuck)).status == 200
    free = await api.call("POST", "/refresh", {"refreshToken": locked.body["refreshToken"]})
    assert await api.whoami(free.body["accessToken"]) == 200


async def test_only_admins_with_mfa_set_the_policy(api: Api) -> None:
    signed = await api.signup(ADMIN, orgName="Acme")
    admin_without = signed.body["accessToken"]
    refused = await api.call("PUT", "/mfa/policy", {"mfaPolicy": "admins"}, token=admin_without)
    assert (refused.status, refused.code) == (409, "mfa_not_enabled")
    assert await set_policy(api, admin_without, "off") == 200
    member = await joined(api, admin_without, MEMBER)
    not_admin = await api.call("PUT", "/mfa/policy", {"mfaPolicy": "off"}, token=member["accessToken"])
    assert (not_admin.status, not_admin.code) == (403, "admin_required")
    for body in ({}, {"mfaPolicy": "sometimes"}, {"mfaPolicy": 1}, {"mfaPolicy": "all", "x": 1}):
        bad = await api.call("PUT", "/mfa/policy", body, token=admin_without)
        assert bad.status == 422, body


async def test_a_route_rule_can_require_mfa(
    settings_for: Any, start_rowgate: Start, http: aiohttp.ClientSession
) -> None:
    rules = [
        {"path": "/api/whoami", "level": "authenticated", "mfa": True},
        {"path": "/api/**", "level": "authenticated"},
    ]
    api = Api(http, await start_rowgate(settings_for(**{"routes.rules": rules})))
    token, phone, _ = await enrolled(api, ADMIN)
    async with api.http.get(
        f"{api.server.url}/api/whoami", headers={"Authorization": f"Bearer {token}"}
    ) as refused:
        assert refused.status == 403
        assert (await refused.json())["code"] == "mfa_required"
    tokens = await signed_in_with_mfa(api, ADMIN, phone)
    assert await api.whoami(tokens["accessToken"]) == 200
