"""``/v1/auth/invitations``: invite an address, list and revoke open invitations, accept one.

Accepting takes one of three shapes:

* JSON ``{token}`` with ``Authorization: Bearer``: a signed-in user (the invited address) joins;
* JSON ``{token, password, name?}`` without a token: signs in to the invited account, or creates
  it, and joins (``auth.orgs.joining``);
* the form of rowgate's own link page (``GET .../invitations/accept?token=``), used when
  ``invitations.accept_url`` is unset: opening the link changes nothing (mail scanners open
  links); posting the form with a password joins, and the page says what happened.

The JSON answers are a token set for a new session in the invited organisation, with ``org``.
"""

from __future__ import annotations

import html
from typing import Annotated

from aiohttp import web
from pydantic import StringConstraints

from rowgate.auth.orgs.invitations import Accepted
from rowgate.errors import MethodNotAllowed, RowgateError, ValidationFailed
from rowgate.proxy.appkeys import SERVICES, SETTINGS
from rowgate.proxy.bodies import Body, parse_body
from rowgate.proxy.handlers import answers, auth_pages
from rowgate.proxy.handlers.auth_http import DisplayName, Password, client, is_form, private_json, read_form
from rowgate.proxy.handlers.context import current_actor, signed_in
from rowgate.proxy.handlers.fields import RoleName
from rowgate.proxy.problem import status_of


class Invite(Body):
    email: Annotated[str, StringConstraints(min_length=1, max_length=320)]
    role: RoleName


class Accept(Body):
    token: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    password: Password | None = None
    name: DisplayName | None = None


async def invite(request: web.Request) -> web.Response:
    actor = await current_actor(request)
    body = await parse_body(request, Invite)
    view = await request.app[SERVICES].tenancy.invitations.create(actor, body.email, body.role)
    return web.json_response(answers.invitation(view), status=201)


async def list_invitations(request: web.Request) -> web.Response:
    actor = await current_actor(request)
    found = await request.app[SERVICES].tenancy.invitations.list(actor)
    return web.json_response({"invitations": [answers.invitation(view) for view in found]})


async def revoke(request: web.Request) -> web.Response:
    actor = await current_actor(request)
    await request.app[SERVICES].tenancy.invitations.revoke(actor, request.match_info["id"])
    return web.Response(status=204)


def _answer(accepted: Accepted) -> web.Response:
    return private_json(answers.accepted(accepted))


async def accept(request: web.Request) -> web.Response:
    if is_form(request):
        return await _accept_form(request)
    tenancy = request.app[SERVICES].tenancy
    if "Authorization" in request.headers:
        user = signed_in(request)
        body = await parse_body(request, Accept)
        if body.password is not None or body.name is not None:
            raise ValidationFailed(
                "Signed in already: send only the token.",
                errors=[{"field": "password", "message": "not with a Bearer token"}],
            )
        return _answer(await tenancy.invitations.accept(user, body.token))
    body = await parse_body(request, Accept)
    if body.password is None:
        raise ValidationFailed(
            "Sign in first (Authorization: Bearer), or send the password of the invited account "
            "(or the one to create it with).",
            errors=[{"field": "password", "message": "required field is missing"}],
        )
    return _answer(await tenancy.joining.accept(body.token, body.password, body.name, client(request)))


async def accept_page(request: web.Request) -> web.Response:
    """The page an invitation link opens: what the invitation is, and a form to accept it."""
    token = request.query.get("token", "")
    product = request.app[SETTINGS].mail.product_name
    try:
        invitee = await request.app[SERVICES].tenancy.invitations.peek(token)
    except RowgateError as error:
        return auth_pages.message("Invitation not valid", error.detail, status_of(error))
    body = (
        f"<p>{html.escape(invitee.email)} is invited to join "
        f"<strong>{html.escape(invitee.org_name)}</strong> "
        f"on {html.escape(product)} as <strong>{html.escape(invitee.role)}</strong>.</p>"
        '<form method="post"><input type="hidden" name="token" value="'
        f'{html.escape(token, quote=True)}">'
        "<label>Your password (or the one for your new account)"
        '<input type="password" name="password" autocomplete="current-password" required></label>'
        '<label>Your name (new accounts) <input type="text" name="name" autocomplete="name"></label>'
        '<button type="submit">Join</button></form>'
    )
    return auth_pages.page("Join " + invitee.org_name, body)


async def _accept_form(request: web.Request) -> web.Response:
    fields = await read_form(request)
    try:
        form = Accept.model_validate(
            {
                "token": fields.get("token", ""),
                "password": fields.get("password", ""),
                "name": fields.get("name") or None,
            }
        )
        assert form.password is not None
        accepted = await request.app[SERVICES].tenancy.joining.accept(
            form.token, form.password, form.name, client(request)
        )
    except RowgateError as error:
        return auth_pages.message("Could not join", error.detail, status_of(error))
    except ValueError:
        return auth_pages.message("Could not join", "Fill in the form as asked.", 422)
    product = request.app[SETTINGS].mail.product_name
    return auth_pages.message(
        f"Welcome to {accepted.org_name}",
        f"You joined {accepted.org_name} as {accepted.role}. Sign in to {product} to continue.",
    )


async def _accept_not_allowed(request: web.Request) -> web.Response:
    raise MethodNotAllowed("Use one of: GET, POST.", headers={"Allow": "GET, POST"})


def add_routes(app: web.Application, mount: str) -> None:
    app.router.add_post(f"{mount}/invitations/accept", accept)
    app.router.add_get(f"{mount}/invitations/accept", accept_page, allow_head=False)
    # Any other method on it is a 405, not an invitation whose id is "accept".
    app.router.add_route("*", f"{mount}/invitations/accept", _accept_not_allowed)
    app.router.add_post(f"{mount}/invitations", invite)
    app.router.add_get(f"{mount}/invitations", list_invitations)
    app.router.add_delete(mount + "/invitations/{id}", revoke)
