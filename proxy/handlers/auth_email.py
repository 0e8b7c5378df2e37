"""``/email/*``: signup, sign-in (with a password, or a magic link: ``method: magiclink``),
verification (API and link page), resending the link."""

from __future__ import annotations

from typing import Literal

from aiohttp import web

from rowgate.auth.flows import signin as signin_flow
from rowgate.auth.flows import signup as signup_flow
from rowgate.auth.flows import verification
from rowgate.errors import RowgateError
from rowgate.proxy.bodies import Body, parse_body, read_json, validated
from rowgate.proxy.handlers import answers, auth_magiclink, auth_pages
from rowgate.proxy.handlers.auth_http import (
    DisplayName,
    EmailText,
    MfaCode,
    Password,
    TokenText,
    client,
    identity,
    is_form,
    private_json,
    read_form,
)
from rowgate.proxy.problem import status_of

VERIFICATION_SENT = {
    "status": "verification_required",
    "detail": "Check your inbox: open the link we sent to confirm your email address, then sign in.",
}
RESEND_ACCEPTED = {
    "status": "accepted",
    "detail": "If this address has an account waiting for confirmation, a new link is on its way.",
}


class SignupBody(Body):
    method: Literal["password"] = "password"
    email: EmailText
    password: Password
    name: DisplayName | None = None
    org_name: DisplayName | None = None


class SigninBody(Body):
    method: Literal["password"] = "password"
    email: EmailText
    password: Password
    mfa_code: MfaCode | None = None


class TokenBody(Body):
    token: TokenText


class EmailBody(Body):
    email: EmailText


async def signup(request: web.Request) -> web.Response:
    data = await read_json(request)
    if auth_magiclink.is_magic_link(data):
        return await auth_magiclink.request_link(request, data, signup=True)
    body = validated(SignupBody, data)
    form = signup_flow.SignupForm(body.email, body.password, body.name, body.org_name)
    result = await signup_flow.signup(identity(request), form, client(request))
    if result.tokens is None:
        return private_json(VERIFICATION_SENT, status=202)
    return private_json(answers.token_set(result.tokens), status=201)


async def signin(request: web.Request) -> web.Response:
    data = await read_json(request)
    if auth_magiclink.is_magic_link(data):
        return await auth_magiclink.request_link(request, data, signup=False)
    body = validated(SigninBody, data)
    ident = identity(request)
    result = await signin_flow.signin(ident, body.email, body.password, client(request), body.mfa_code)
    return private_json(answers.signed_in(result))


async def verify(request: web.Request) -> web.Response:
    """Confirm an address: JSON from an app, or the form of rowgate's own link page."""
    if is_form(request):
        return await _verify_form(request)
    body = await parse_body(request, TokenBody)
    await verification.verify_email(identity(request), body.token, client(request))
    return private_json({"emailVerified": True})


async def verify_page(request: web.Request) -> web.Response:
    """The page a verification link opens: a button that posts the token (opening alone changes nothing)."""
    token = request.query.get("token", "")
    product = identity(request).settings.mail.product_name
    if not token:
        return auth_pages.message(
            "Invalid link", "This link is incomplete; open the link from the mail.", 400
        )
    return auth_pages.verify_form(product, token)


async def resend(request: web.Request) -> web.Response:
    body = await parse_body(request, EmailBody)
    await verification.resend_verification(identity(request), body.email, client(request))
    return private_json(RESEND_ACCEPTED, status=202)


async def _verify_form(request: web.Request) -> web.Response:
    fields = await read_form(request)
    try:
        await verification.verify_email(identity(request), fields.get("token", ""), client(request))
    except RowgateError as error:
        return auth_pages.message("Link not valid", error.detail, status_of(error))
    return auth_pages.message("Email address confirmed", "Thank you: your email address is confirmed.")


def add_routes(app: web.Application, mount: str) -> None:
    app.router.add_post(f"{mount}/email/signup", signup)
    app.router.add_post(f"{mount}/email/signin", signin)
    app.router.add_post(f"{mount}/email/verify", verify)
    app.router.add_get(f"{mount}/email/verify", verify_page, allow_head=False)
    app.router.add_post(f"{mount}/email/verify/resend", resend)
