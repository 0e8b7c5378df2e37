"""Magic links over HTTP: asking for one (``/email/signin|signup`` with ``method: magiclink``),
the page the link opens, and exchanging the code the application receives for tokens.

The link's page posts the token back (opening it alone changes nothing); rowgate then answers 303
to the application's ``callbackUrl`` with ``?code=`` (never tokens in a URL, unlike bkend, whose
redirect carries the tokens themselves).  The application calls ``POST /token/exchange``.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from aiohttp import web
from pydantic import Field

from rowgate.auth.flows import exchange, magiclink
from rowgate.errors import RowgateError
from rowgate.proxy.bodies import Body, parse_body, validated
from rowgate.proxy.handlers import answers, auth_pages
from rowgate.proxy.handlers.auth_http import EmailText, TokenText, client, identity, private_json, read_form
from rowgate.proxy.problem import status_of

LINK_SENT = {
    "status": "accepted",
    "detail": "If this address may sign in here, a sign-in link is on its way.",
}
Url = Field(max_length=2048)
Challenge = Field(default=None, max_length=128)


class MagicLinkBody(Body):
    method: Literal["magiclink"]
    email: EmailText
    callback_url: str = Url
    code_challenge: str | None = Challenge


class ExchangeBody(Body):
    code: TokenText
    code_verifier: str | None = Field(default=None, max_length=256)


def is_magic_link(data: Any) -> bool:
    """True for a body that asks for a link rather than signing in with a password."""
    return isinstance(data, dict) and data.get("method") == "magiclink"


async def request_link(request: web.Request, data: Any, *, signup: bool) -> web.Response:
    """202 whatever the address (see ``auth.flows.magiclink``)."""
    body = validated(MagicLinkBody, data)
    await magiclink.request_link(
        identity(request), body.email, body.callback_url, body.code_challenge, client(request), signup=signup
    )
    return private_json(LINK_SENT, status=202)


async def link_page(request: web.Request) -> web.Response:
    """The page a magic link opens: a button that posts the token."""
    token = request.query.get("token", "")
    settings = identity(request).settings
    if not token:
        return auth_pages.message(
            "Invalid link", "This link is incomplete; open the link from the mail.", 400
        )
    product = settings.mail.product_name
    origins = sorted({origin(url) for url in settings.auth.callback_urls})
    return auth_pages.token_form(f"Sign in to {product}", f"Sign in to {product}.", token, "Sign in", origins)


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def use_link(request: web.Request) -> web.Response:
    """The page's form: 303 to the application with a code, or a page saying what is wrong."""
    fields = await read_form(request)
    try:
        target = await magiclink.redeem(identity(request), fields.get("token", ""), client(request))
    except RowgateError as error:
        return auth_pages.message("Link not valid", error.detail, status_of(error))
    raise web.HTTPSeeOther(target, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


async def token_exchange(request: web.Request) -> web.Response:
    body = await parse_body(request, ExchangeBody)
    result = await exchange.exchange(identity(request), body.code, body.code_verifier, client(request))
    return private_json(answers.signed_in(result))


def add_routes(app: web.Application, mount: str) -> None:
    app.router.add_get(f"{mount}/email/magiclink", link_page, allow_head=False)
    app.router.add_post(f"{mount}/email/magiclink", use_link)
    app.router.add_post(f"{mount}/token/exchange", token_exchange)
