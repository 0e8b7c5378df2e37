"""Sign-in with a provider over HTTP, and the linked accounts of the signed-in user.

``GET /<provider>/authorize?callbackUrl=…`` redirects to the provider and sets a cookie that
binds the attempt to the browser (for the callback path only); ``GET|POST /<provider>/callback``
(POST for providers that answer with ``response_mode=form_post``) redirects to the application
with ``?code=`` for ``POST /token/exchange`` (never tokens in a URL, unlike bkend), or with
``?error=<code>`` when the sign-in failed.
``GET /accounts`` lists the linked identities; ``POST /accounts {provider, callbackUrl}`` answers
the URL that starts linking one; ``DELETE /accounts/<provider>`` unlinks it.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from rowgate.auth.social import linking
from rowgate.auth.social.signin import SocialSignin
from rowgate.errors import BadRequest
from rowgate.proxy.appkeys import SERVICES, SETTINGS
from rowgate.proxy.bodies import Body, parse_body
from rowgate.proxy.handlers.auth_http import (
    caller,
    client,
    identity,
    is_form,
    no_content,
    private_json,
    read_form,
)

COOKIE = "rowgate_oauth"
MAX_PARAM = 2048
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


class LinkBody(Body):
    provider: str = Field(max_length=64)
    callback_url: str = Field(max_length=MAX_PARAM)


def social(request: web.Request) -> SocialSignin:
    return request.app[SERVICES].social


def _param(values: dict[str, str], name: str) -> str | None:
    value = values.get(name)
    if value is not None and len(value) > MAX_PARAM:
        raise BadRequest(f"{name} is too long.", code="invalid_parameter")
    return value


async def authorize(request: web.Request) -> web.Response:
    name = request.match_info["provider"]
    query = dict(request.query)
    started = await social(request).start(
        name, _param(query, "callbackUrl"), _param(query, "codeChallenge"), _param(query, "linkToken")
    )
    response = web.HTTPFound(started.url, headers=NO_STORE)
    settings = request.app[SETTINGS]
    response.set_cookie(
        COOKIE,
        started.binding,
        max_age=600,
        path=f"{settings.mounts.auth}/{name}/callback",
        secure=settings.public_url.startswith("https://"),
        httponly=True,
        samesite="Lax",
    )
    raise response


async def callback(request: web.Request) -> web.Response:
    name = request.match_info["provider"]
    social(request).provider(name)
    params = await read_form(request) if is_form(request) else dict(request.query)
    state, code = _param(params, "state") or "", _param(params, "code") or ""
    binding = request.cookies.get(COOKIE, "")
    refused = "error" in params  # the user declined, or the provider failed: no code to redeem
    target = await social(request).finish(name, state, None if refused else code, binding, client(request))
    response = web.HTTPSeeOther(target, headers=NO_STORE)
    response.del_cookie(COOKIE, path=f"{request.app[SETTINGS].mounts.auth}/{name}/callback")
    raise response


async def list_accounts(request: web.Request) -> web.Response:
    user = caller(request)
    async with identity(request).db.connection() as conn:
        accounts, has_password = await linking.overview(conn, user.user_id)
    listed = [
        {"provider": a.provider, "email": a.email, "linkedAt": a.created_at.isoformat()} for a in accounts
    ]
    return private_json({"accounts": listed, "hasPassword": has_password, "providers": social(request).names})


async def start_link(request: web.Request) -> web.Response:
    user = caller(request)
    body = await parse_body(request, LinkBody)
    token = await social(request).link_intent(user.user_id, body.provider, body.callback_url)
    settings = request.app[SETTINGS]
    url = f"{settings.public_url}{settings.mounts.auth}/{body.provider}/authorize?linkToken={token}"
    return private_json({"authorizeUrl": url}, status=201)


async def unlink(request: web.Request) -> web.Response:
    user = caller(request)
    async with identity(request).db.transaction() as conn:
        await linking.unlink(conn, user.user_id, request.match_info["provider"], client(request))
    return no_content()


def add_routes(app: web.Application, mount: str) -> None:
    app.router.add_get(f"{mount}/accounts", list_accounts, allow_head=False)
    app.router.add_post(f"{mount}/accounts", start_link)
    app.router.add_delete(f"{mount}/accounts/{{provider}}", unlink)
    for name in app[SETTINGS].auth.providers:
        app.router.add_get(f"{mount}/{{provider:{name}}}/authorize", authorize, allow_head=False)
        app.router.add_get(f"{mount}/{{provider:{name}}}/callback", callback, allow_head=False)
        app.router.add_post(f"{mount}/{{provider:{name}}}/callback", callback)
