"""``/mfa/*``: turning TOTP on and off, backup codes, the second step of sign-in, step-up."""

from __future__ import annotations

from typing import Literal, Self

from aiohttp import web
from pydantic import model_validator

from rowgate.auth.mfa import enrolment, gate, org_setting, stepup
from rowgate.auth.mfa.service import SecondFactor
from rowgate.proxy.bodies import Body, parse_body
from rowgate.proxy.handlers import answers
from rowgate.proxy.handlers.auth_http import (
    BackupCode,
    MfaCode,
    Password,
    TokenText,
    caller,
    client,
    identity,
    no_content,
    private_json,
    require_recent_mfa,
)
from rowgate.proxy.handlers.context import current_actor


class EnableBody(Body):
    password: Password


class CodeBody(Body):
    code: MfaCode


class SecondFactorBody(Body):
    """A second factor: ``code`` from the authenticator app or one ``backupCode``, not both."""

    code: MfaCode | None = None
    backup_code: BackupCode | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Self:
        if (self.code is None) == (self.backup_code is None):
            raise ValueError("send either code or backupCode (exactly one of them)")
        return self

    def second_factor(self) -> SecondFactor:
        return SecondFactor(code=self.code, backup_code=self.backup_code)


class StepUpBody(SecondFactorBody):
    pass


class PolicyBody(Body):
    #: Who in the active organisation must use MFA: nobody required, its admins, or all members.
    mfa_policy: Literal["off", "admins", "all"]


class VerifyBody(SecondFactorBody):
    mfa_token: TokenText


class DisableBody(SecondFactorBody):
    password: Password


async def enable(request: web.Request) -> web.Response:
    user = caller(request)
    body = await parse_body(request, EnableBody)
    started = await enrolment.enable(identity(request), user.user_id, body.password, client(request))
    return private_json({"secret": started.secret, "otpauthUrl": started.uri, "qrCodeUrl": started.qr_code})


async def confirm(request: web.Request) -> web.Response:
    user = caller(request)
    body = await parse_body(request, CodeBody)
    codes = await enrolment.confirm(identity(request), user.user_id, body.code, client(request))
    return private_json({"enabled": True, "backupCodes": codes})


async def backup_codes(request: web.Request) -> web.Response:
    user = caller(request)
    body = await parse_body(request, CodeBody)
    codes = await enrolment.regenerate(identity(request), user.user_id, body.code, client(request))
    return private_json({"backupCodes": codes})


async def disable(request: web.Request) -> web.Response:
    user = caller(request)
    body = await parse_body(request, DisableBody)
    second = body.second_factor()
    await enrolment.disable(identity(request), user.user_id, body.password, second, client(request))
    return no_content()


async def verify(request: web.Request) -> web.Response:
    """The second step of a sign-in that answered ``mfaRequired``: the session's tokens."""
    body = await parse_body(request, VerifyBody)
    tokens = await gate.verify(identity(request), body.mfa_token, body.second_factor(), client(request))
    return private_json(answers.token_set(tokens))


async def step_up(request: web.Request) -> web.Response:
    """A second factor for the signed-in user: access and ID tokens that pass step-up checks."""
    user = caller(request)
    body = await parse_body(request, StepUpBody)
    second = body.second_factor()
    tokens = await stepup.step_up(identity(request), user.user_id, user.session_id, second, client(request))
    return private_json(
        {
            "accessToken": tokens.access_token,
            "tokenType": "Bearer",
            "expiresIn": tokens.expires_in,
            "idToken": tokens.id_token,
        }
    )


async def get_policy(request: web.Request) -> web.Response:
    actor = await current_actor(request)
    return private_json({"mfaPolicy": await org_setting.current(identity(request), actor)})


async def put_policy(request: web.Request) -> web.Response:
    """Require MFA of the active organisation's admins or members (admins only, with a step-up)."""
    actor = await current_actor(request)
    body = await parse_body(request, PolicyBody)
    actor.require_admin()
    await require_recent_mfa(request)
    await org_setting.change(identity(request), actor, body.mfa_policy)
    return private_json({"mfaPolicy": body.mfa_policy})


def add_routes(app: web.Application, mount: str) -> None:
    app.router.add_post(f"{mount}/mfa/enable", enable)
    app.router.add_post(f"{mount}/mfa/confirm", confirm)
    app.router.add_post(f"{mount}/mfa/backup-codes", backup_codes)
    app.router.add_post(f"{mount}/mfa/disable", disable)
    app.router.add_post(f"{mount}/mfa/verify", verify)
    app.router.add_post(f"{mount}/mfa/step-up", step_up)
    app.router.add_get(f"{mount}/mfa/policy", get_policy, allow_head=False)
    app.router.add_put(f"{mount}/mfa/policy", put_policy)
