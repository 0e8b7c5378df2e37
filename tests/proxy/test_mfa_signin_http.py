"""Sign-in with MFA over HTTP: the mfaToken step, the one-call mfaCode, lockout, claims."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest

from rowgate.proxy.appkeys import SERVICES
from tests.proxy.authkit import PASSWORD, Api, Start, delivered, token_of
from tests.proxy.mfahttp import api, claims, enrolled, settings_for, signed_in_with_mfa, upstream

__all__ = ["api", "settings_for", "upstream"]  # fixtures

pytestmark = pytest.mark.integration
EMAIL = "ada@example.com"


async def challenged(api: Api, email: str = EMAIL, **headers: str) -> str:
    answer = await api.call("POST", "/email/signin", {"email": email, "password": PASSWORD}, headers=headers)
    assert answer.status == 200, answer.body
    assert answer.body["mfaRequired"] is True
    assert "accessToken" not in answer.body
    assert answer.body["expiresIn"] == 300
    return str(answer.body["mfaToken"])


async def test_a_correct_password_answers_an_mfa_token_that_a_code_completes(api: Api) -> None:
    _, phone, _ = await enrolled(api, EMAIL)
    mfa_token = await challenged(api)
    done = await api.call("POST", "/mfa/verify", {"mfaToken": mfa_token, "code": phone.fresh()})
    assert done.status == 200, done.body
    access = claims(done.body["accessToken"])
    assert access["amr"] == ["pwd", "otp", "mfa"]
    assert abs(access["auth_time"] - time.time()) < 60
    assert claims(done.body["idToken"])["auth_time"] == access["auth_time"]
    assert await api.whoami(done.body["accessToken"]) == 200
    # The token is single use, even with another good code.
    again = await api.call("POST", "/mfa/verify", {"mfaToken": mfa_token, "code": phone.fresh()})
    assert (again.status, again.code) == (401, "invalid_mfa_token")
    # Refreshed tokens keep how the user signed in, and when.
    renewed = await api.call("POST", "/refresh", {"refreshToken": done.body["refreshToken"]})
    assert claims(renewed.body["accessToken"])["amr"] == ["pwd", "otp", "mfa"]
    assert claims(renewed.body["accessToken"])["auth_time"] == access["auth_time"]


async def test_users_without_mfa_get_tokens_with_pwd_and_auth_time(api: Api) -> None:
    await api.signup(EMAIL)
    answer = await api.call(
        "POST", "/email/signin", {"email": EMAIL, "password": PASSWORD, "mfaCode": "123456"}
    )
    assert answer.status == 200
    access = claims(answer.body["accessToken"])
    assert access["amr"] == ["pwd"]
    assert isinstance(access["auth_time"], int)


async def test_sign_in_in_one_call_with_mfa_code(api: Api) -> None:
    _, phone, _ = await enrolled(api, EMAIL)
    tokens = await signed_in_with_mfa(api, EMAIL, phone)
    assert claims(tokens["accessToken"])["amr"] == ["pwd", "otp", "mfa"]
    wrong = await api.call(
        "POST", "/email/signin", {"email": EMAIL, "password": PASSWORD, "mfaCode": phone.code_at(5)}
    )
    assert (wrong.status, wrong.code) == (401, "invalid_mfa_code")
    assert "accessToken" not in wrong.body


async def test_a_replayed_code_and_a_reused_backup_code_are_refused(api: Api) -> None:
    _, phone, backup_codes = await enrolled(api, EMAIL)
    code = phone.fresh()
    first = await api.call("POST", "/email/signin", {"email": EMAIL, "password": PASSWORD, "mfaCode": code})
    assert first.status == 200
    replay = await api.call("POST", "/email/signin", {"email": EMAIL, "password": PASSWORD, "mfaCode": code})
    assert (replay.status, replay.code) == (401, "invalid_mfa_code")
    used = await api.call(
        "POST", "/mfa/verify", {"mfaToken": await challenged(api), "backupCode": backup_codes[0]}
    )
    assert used.status == 200
    assert claims(used.body["accessToken"])["amr"] == ["pwd", "otp", "mfa"]
    reused = await api.call(
        "POST", "/mfa/verify", {"mfaToken": await challenged(api), "backupCode": backup_codes[0]}
    )
    assert (reused.status, reused.code) == (401, "invalid_mfa_code")


async def test_the_mfa_token_is_bound_to_the_client_that_gave_the_password(api: Api) -> None:
    _, phone, _ = await enrolled(api, EMAIL)
    mfa_token = await challenged(api)
    elsewhere = await api.call(
        "POST",
        "/mfa/verify",
        {"mfaToken": mfa_token, "code": phone.code_at(0)},
        headers={"User-Agent": "curl/8"},
    )
    assert (elsewhere.status, elsewhere.code) == (401, "invalid_mfa_token")
    made_up = await api.call("POST", "/mfa/verify", {"mfaToken": "x" * 43, "code": phone.code_at(0)})
    assert (made_up.status, made_up.code) == (401, "invalid_mfa_token")


async def test_failed_codes_count_toward_the_account_lockout(
    settings_for: Any, start_rowgate: Start, http: aiohttp.ClientSession
) -> None:
    api = Api(http, await start_rowgate(settings_for(**{"auth.lockout.account.threshold": 3})))
    _, phone, _ = await enrolled(api, EMAIL)
    mfa_token = await challenged(api)
    for _ in range(3):
        wrong = await api.call("POST", "/mfa/verify", {"mfaToken": mfa_token, "code": phone.code_at(4)})
        assert (wrong.status, wrong.code) == (401, "invalid_mfa_code")
    locked = await api.call("POST", "/mfa/verify", {"mfaToken": mfa_token, "code": phone.code_at(0)})
    assert (locked.status, locked.code) == (429, "account_locked")
    password_too = await api.call("POST", "/email/signin", {"email": EMAIL, "password": PASSWORD})
    assert (password_too.status, password_too.code) == (429, "account_locked")
    db = api.server.app[SERVICES].db
    assert await db.fetchval("SELECT count(*) FROM rowgate.audit_events WHERE event = 'mfa.failed'") == 3


VERIFY_BODIES = [
    {},
    {"mfaToken": "t"},
    {"code": "123456"},
    {"mfaToken": 5, "code": "123456"},
    {"mfaToken": "t" * 5000, "code": "123456"},
    {"mfaToken": "t", "code": 123456},
    {"mfaToken": "t", "code": "12 34"},
    {"mfaToken": "t", "code": "123456", "backupCode": "abcde-fghij"},
    {"mfaToken": "t", "backupCode": "x" * 100},
    {"mfaToken": "t", "code": True},
]


@pytest.mark.parametrize("body", VERIFY_BODIES)
async def test_bad_verify_input_is_a_422_problem(api: Api, body: dict[str, Any]) -> None:
    answer = await api.call("POST", "/mfa/verify", body)
    assert answer.status == 422, answer.body
    assert answer.headers["Content-Type"].startswith("application/problem+json")


@pytest.mark.parametrize("code", ["12345", 123456, "1" * 10_000, ["123456"], None])
async def test_a_malformed_mfa_code_at_sign_in_is_a_422_problem(api: Api, code: object) -> None:
    await api.signup(EMAIL)
    answer = await api.call("POST", "/email/signin", {"email": EMAIL, "password": PASSWORD, "mfaCode": code})
    if code is None:
        assert answer.status == 200  # null: no code
    else:
        assert (answer.status, answer.code) == (422, "validation_failed")


async def test_accepting_an_invitation_with_the_password_alone_is_refused_with_mfa(api: Api) -> None:
    await enrolled(api, EMAIL)
    bob = await api.signup("bob@example.com", orgName="Bob's")
    sent = await api.call(
        "POST", "/invitations", {"email": EMAIL, "role": "member"}, token=bob.body["accessToken"]
    )
    assert sent.status == 201
    (mail,) = await delivered(api.server, EMAIL, "invited you to join")
    answer = await api.call("POST", "/invitations/accept", {"token": token_of(mail), "password": PASSWORD})
    assert (answer.status, answer.code) == (403, "mfa_required")
    assert "accessToken" not in answer.body
