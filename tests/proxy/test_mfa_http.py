"""TOTP MFA over HTTP: enrolment, backup codes, disabling, with codes computed by oathtool."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from rowgate.proxy.appkeys import SERVICES
from tests.mfakit import Authenticator
from tests.proxy.authkit import PASSWORD, Api
from tests.proxy.mfahttp import api, enrolled, factor_rows, settings_for, signed_up, upstream

__all__ = ["api", "settings_for", "upstream"]  # fixtures

pytestmark = pytest.mark.integration


async def test_enable_answers_the_secret_its_uri_and_a_qr_code(api: Api) -> None:
    token = await signed_up(api, "ada@example.com")
    answer = await api.call("POST", "/mfa/enable", {"password": PASSWORD}, token=token)
    assert answer.status == 200
    assert answer.headers["Cache-Control"] == "no-store"
    secret = answer.body["secret"]
    assert len(base64.b32decode(secret)) == 20
    uri = urlsplit(answer.body["otpauthUrl"])
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert parse_qs(uri.query)["secret"] == [secret]
    assert parse_qs(uri.query)["issuer"] == ["rowgate"]
    assert "ada%40example.com" in uri.path
    qr = answer.body["qrCodeUrl"]
    assert qr.startswith("data:image/svg+xml")
    # The secret is stored sealed, never in clear.
    (row,) = await factor_rows(api)
    assert secret.encode() not in row["secret"]
    assert row["confirmed_at"] is None


async def test_confirm_with_an_oathtool_code_turns_mfa_on_with_ten_backup_codes(api: Api) -> None:
    token, _phone, codes = await enrolled(api, "ada@example.com")
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert all(len(c) == 11 and c[5] == "-" for c in codes)
    (row,) = await factor_rows(api)
    assert row["confirmed_at"] is not None
    db = api.server.app[SERVICES].db
    stored = [bytes(r["digest"]) for r in await db.fetch("SELECT digest FROM rowgate.mfa_backup_codes")]
    assert len(stored) == 10
    assert not any(c.replace("-", "").encode() in d for c in codes for d in stored)
    # Enabling again is refused while MFA is on.
    again = await api.call("POST", "/mfa/enable", {"password": PASSWORD}, token=token)
    assert (again.status, again.code) == (409, "mfa_already_enabled")


async def test_a_wrong_or_replayed_code_does_not_confirm(api: Api) -> None:
    token = await signed_up(api, "ada@example.com")
    started = await api.call("POST", "/mfa/enable", {"password": PASSWORD}, token=token)
    phone = Authenticator(started.body["secret"])
    wrong = await api.call("POST", "/mfa/confirm", {"code": "000000"}, token=token)
    if phone.code_at(0) != "000000" and phone.code_at(1) != "000000" and phone.code_at(-1) != "000000":
        assert (wrong.status, wrong.code) == (403, "invalid_mfa_code")
    too_far = await api.call("POST", "/mfa/confirm", {"code": phone.code_at(3)}, token=token)
    assert (too_far.status, too_far.code) == (403, "invalid_mfa_code")
    (row,) = await factor_rows(api)
    assert row["confirmed_at"] is None  # nothing half-enrolled
    code = phone.fresh()
    assert (await api.call("POST", "/mfa/confirm", {"code": code}, token=token)).status == 200
    replayed = await api.call("POST", "/mfa/backup-codes", {"code": code}, token=token)
    assert (replayed.status, replayed.code) == (403, "invalid_mfa_code")


async def test_backup_codes_are_regenerated_with_a_fresh_code(api: Api) -> None:
    token, phone, first = await enrolled(api, "ada@example.com")
    renewed = await api.call("POST", "/mfa/backup-codes", {"code": phone.fresh()}, token=token)
    assert renewed.status == 200
    second = renewed.body["backupCodes"]
    assert len(second) == 10
    assert not set(first) & set(second)
    # A backup code cannot stand in for the fresh authenticator code.
    refused = await api.call("POST", "/mfa/backup-codes", {"code": second[0]}, token=token)
    assert (refused.status, refused.code) == (422, "validation_failed")


async def test_disable_needs_the_password_and_a_code(api: Api) -> None:
    token, phone, codes = await enrolled(api, "ada@example.com")
    wrong_password = await api.call(
        "POST", "/mfa/disable", {"password": "Not-The-Password-1", "code": phone.code_at(0)}, token=token
    )
    assert (wrong_password.status, wrong_password.code) == (403, "wrong_password")
    no_code = await api.call("POST", "/mfa/disable", {"password": PASSWORD}, token=token)
    assert (no_code.status, no_code.code) == (422, "validation_failed")
    answer = await api.call(
        "POST", "/mfa/disable", {"password": PASSWORD, "backupCode": codes[0]}, token=token
    )
    assert answer.status == 204
    assert await factor_rows(api) == []
    again = await api.call(
        "POST", "/mfa/disable", {"password": PASSWORD, "code": phone.code_at(0)}, token=token
    )
    assert (again.status, again.code) == (409, "mfa_not_enabled")


BAD_BODIES = [
    ("/mfa/enable", {}),
    ("/mfa/enable", {"password": 12345678}),
    ("/mfa/enable", {"password": "x" * 100_000}),
    ("/mfa/confirm", {}),
    ("/mfa/confirm", {"code": 123456}),
    ("/mfa/confirm", {"code": "12345"}),
    ("/mfa/confirm", {"code": "abcdef"}),
    ("/mfa/confirm", {"code": "1" * 10_000}),
    ("/mfa/confirm", {"code": ["123456"]}),
    ("/mfa/confirm", {"code": "123456", "extra": 1}),
    ("/mfa/backup-codes", {"code": None}),
    ("/mfa/disable", {"password": PASSWORD}),
    ("/mfa/disable", {"password": PASSWORD, "code": "123456", "backupCode": "abcde-fghij"}),
    ("/mfa/disable", {"password": PASSWORD, "backupCode": "not-a-backup-code!"}),
    ("/mfa/disable", {"password": PASSWORD, "backupCode": 7}),
]


@pytest.mark.parametrize(("path", "body"), BAD_BODIES)
async def test_bad_input_is_a_4xx_problem(api: Api, path: str, body: dict[str, Any]) -> None:
    token = await signed_up(api, "ada@example.com")
    answer = await api.call("POST", path, body, token=token)
    assert 400 <= answer.status < 500, answer.body
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert await factor_rows(api) == []


async def test_not_json_and_no_token_are_refused(api: Api) -> None:
    token = await signed_up(api, "ada@example.com")
    garbage = await api.call(
        "POST", "/mfa/confirm", token=token, data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert garbage.status == 400
    anonymous = await api.call("POST", "/mfa/enable", {"password": PASSWORD})
    assert anonymous.status == 401
    confirm_first = await api.call("POST", "/mfa/confirm", {"code": "123456"}, token=token)
    assert (confirm_first.status, confirm_first.code) == (409, "mfa_not_pending")
