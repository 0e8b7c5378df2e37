"""Password reset (API and link page), password change, account deletion."""

from __future__ import annotations

from aiohttp import web

from rowgate.auth.flows import password, withdraw
from rowgate.errors import RowgateError, ValidationFailed
from rowgate.proxy.appkeys import SERVICES
from rowgate.proxy.bodies import Body, parse_body, validated
from rowgate.proxy.handlers import auth_pages
from rowgate.proxy.handlers.auth_http import (
    EmailText,
    Password,
    TokenText,
    caller,
    client,
    identity,
    is_form,
    no_content,
    private_json,
    read_form,
    require_recent_mfa,
)
from rowgate.proxy.problem import status_of

RESET_ACCEPTED = {
    "status": "accepted",
    "detail": "If this address has an account, a link to reset its password is on its way.",
}


class ResetRequestBody(Body):
    email: EmailText


class ResetConfirmBody(Body):
    token: TokenText
    new_password: Password


class ChangeBody(Body):
    current_password: Password
    new_password: Password


class WithdrawBody(Body):
    password: Password


async def reset_request(request: web.Request) -> web.Response:
    """Always 202 with one body, whether or not the address has an account."""
    body = await parse_body(request, ResetRequestBody)
    await password.request_reset(identity(request), body.email, client(request))
    return private_json(RESET_ACCEPTED, status=202)


async def reset_confirm(request: web.Request) -> web.Response:
    if is_form(request):
        return await _reset_form(request)
    body = await parse_body(request, ResetConfirmBody)
    await password.confirm_reset(identity(request), body.token, body.new_password, client(request))
    return no_content()


async def reset_page(request: web.Request) -> web.Response:
    """The page a reset link opens: a form for the new password (opening alone changes nothing)."""
    token = request.query.get("token", "")
    if not token:
        return auth_pages.message(
            "Invalid link", "This link is incomplete; open the link from the mail.", 400
        )
    ident = identity(request)
    return auth_pages.reset_form(ident.settings.mail.product_name, token, ident.policy.describe())


async def change(request: web.Request) -> web.Response:
    user = caller(request)
    await require_recent_mfa(request)
    body = await parse_body(request, ChangeBody)
    revoked = await password.change_password(
        identity(request),
        user.user_id,
        user.session_id,
        body.current_password,
        body.new_password,
        client(request),
    )
    return private_json({"passwordChanged": True, "sessionsRevoked": revoked})


async def withdraw_account(request: web.Request) -> web.Response:
    user = caller(request)
    await require_recent_mfa(request)
    body = await parse_body(request, WithdrawBody)
    await withdraw.withdraw(identity(request), user.user_id, body.password, client(request))
    # The API keys the user created stop with them: every instance reads them again at once.
    await request.app[SERVICES].tenancy.key_verifier.creator_changed(None, user.user_id)
    return no_content()


async def _reset_form(request: web.Request) -> web.Response:
    ident = identity(request)
    fields = await read_form(request)
    token = fields.get("token", "")
    try:
        body = validated(ResetConfirmBody, {"token": token, "newPassword": fields.get("newPassword", "")})
        await password.confirm_reset(ident, body.token, body.new_password, client(request))
    except ValidationFailed as error:
        messages = [e["message"] for e in error.extra.get("errors", [])] or [error.detail]
        product = ident.settings.mail.product_name
        return auth_pages.reset_form(product, token, ident.policy.describe(), messages, status=422)
    except RowgateError as error:
        return auth_pages.message("Link not valid", error.detail, status_of(error))
    return auth_pages.message("Password changed", "Your new password is set. Sign in with it everywhere.")


def add_routes(app: web.Application, mount: str) -> None:
    app.router.add_post(f"{mount}/password/reset/request", reset_request)
    app.router.add_post(f"{mount}/password/reset/confirm", reset_confirm)
    app.router.add_get(f"{mount}/password/reset", reset_page, allow_head=False)
    app.router.add_post(f"{mount}/password/change", change)
    app.router.add_delete(f"{mount}/withdraw", withdraw_account)
