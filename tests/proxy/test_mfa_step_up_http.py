"""Step-up over HTTP: sensitive operations ask a user with MFA for a recent second factor."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from tests.proxy.authkit import PASSWORD, Api, Start
from tests.proxy.mfahttp import api, claims, enrolled, settings_for, signed_in_with_mfa, upstream

__all__ = ["api", "settings_for", "upstream"]  # fixtures

pytestmark = pytest.mark.integration
EMAIL = "ada@example.com"
NEW_PASSWORD = "Brand-New-Secret-9"


def sensitive(user_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, body) of each sensitive operation (withdraw last: it ends the account)."""
    return [
        ("POST", "/password/change", {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}),
        ("POST", "/api-keys", {"name": "ci", "type": "secret"}),
        ("PATCH", f"/members/{user_id}", {"role": "member"}),
        ("DELETE", "/withdraw", {"password": NEW_PASSWORD}),
    ]


async def test_sensitive_operations_need_a_step_up_then_pass(api: Api) -> None:
    # The signup token shows only the password: MFA was turned on after it was issued.
    token, phone, _ = await enrolled(api, EMAIL)
    user_id = claims(token)["sub"]
    for method, path, body in sensitive(user_id):
        refused = await api.call(method, path, body, token=token)
        assert (refused.status, refused.code) == (403, "mfa_required"), path
    stepped = await api.call("POST", "/mfa/step-up", {"code": phone.fresh()}, token=token)
    assert stepped.status == 200, stepped.body
    assert set(stepped.body) == {"accessToken", "tokenType", "expiresIn", "idToken"}
    fresh = stepped.body["accessToken"]
    assert claims(fresh)["amr"] == ["pwd", "otp", "mfa"]
    assert claims(fresh)["sid"] == claims(token)["sid"]
    answers = [await api.call(method, path, body, token=fresh) for method, path, body in sensitive(user_id)]
    assert answers[0].status == 200
    assert answers[1].status == 201
    assert (answers[2].status, answers[2].code) == (409, "last_admin")  # past the step-up check
    assert answers[3].status == 204


async def test_a_sign_in_with_mfa_counts_as_a_step_up(api: Api) -> None:
    _, phone, _ = await enrolled(api, EMAIL)
    tokens = await signed_in_with_mfa(api, EMAIL, phone)
    created = await api.call(
        "POST", "/api-keys", {"name": "ci", "type": "secret"}, token=tokens["accessToken"]
    )
    assert created.status == 201


async def test_a_step_up_older_than_the_window_is_asked_again(
    settings_for: Any, start_rowgate: Start, http: aiohttp.ClientSession
) -> None:
    api = Api(http, await start_rowgate(settings_for(**{"auth.mfa.step_up_window": "1s"})))
    _, phone, _ = await enrolled(api, EMAIL)
    tokens = await signed_in_with_mfa(api, EMAIL, phone)
    await asyncio.sleep(2.1)  # auth_time is in whole seconds: two of them are past a 1 s window
    refused = await api.call(
        "POST", "/api-keys", {"name": "ci", "type": "secret"}, token=tokens["accessToken"]
    )
    assert (refused.status, refused.code) == (403, "mfa_required")
    # A refresh does not renew the second factor.
    renewed = await api.call("POST", "/refresh", {"refreshToken": tokens["refreshToken"]})
    again = await api.call(
        "POST", "/api-keys", {"name": "ci", "type": "secret"}, token=renewed.body["accessToken"]
    )
    assert (again.status, again.code) == (403, "mfa_required")


async def test_users_without_mfa_are_not_asked(api: Api) -> None:
    signed = await api.signup(EMAIL)
    token = signed.body["accessToken"]
    created = await api.call("POST", "/api-keys", {"name": "ci", "type": "secret"}, token=token)
    assert created.status == 201
    no_mfa = await api.call("POST", "/mfa/step-up", {"code": "123456"}, token=token)
    assert (no_mfa.status, no_mfa.code) == (409, "mfa_not_enabled")


async def test_step_up_refuses_wrong_codes_and_bad_input(api: Api) -> None:
    token, phone, backup_codes = await enrolled(api, EMAIL)
    wrong = await api.call("POST", "/mfa/step-up", {"code": phone.code_at(6)}, token=token)
    assert (wrong.status, wrong.code) == (403, "invalid_mfa_code")
    for body in (
        {},
        {"code": 1},
        {"code": "1" * 9999},
        {"backupCode": "?"},
        {"code": "123456", "backupCode": "a"},
    ):
        bad = await api.call("POST", "/mfa/step-up", body, token=token)
        assert bad.status == 422, body
    anonymous = await api.call("POST", "/mfa/step-up", {"code": "123456"})
    assert anonymous.status == 401
    by_backup = await api.call("POST", "/mfa/step-up", {"backupCode": backup_codes[3]}, token=token)
    assert by_backup.status == 200
