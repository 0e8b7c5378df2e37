"""``/v1/auth/invitations``: invite an address, list and revoke open invitations, accept one."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import StringConstraints

from proxy.bodies import Body, parse_body
from proxy.handlers.context import current_actor, signed_in
from proxy.handlers.fields import RoleName
from proxy.keys import SERVICES

NO_STORE = {"Cache-Control": "no-store"}


class Invite(Body):
    email: Annotated[str, StringConstraints(min_length=1, max_length=320)]
    role: RoleName


class Accept(Body):
    token: Annotated[str, StringConstraints(min_length=1, max_length=512)]


async def invite(request: web.Request) -> web.Response:
    actor = await current_actor(request)
    body = await parse_body(request, Invite)
    view = await request.app[SERVICES].tenancy.invitations.create(actor, body.email, body.role)
    return web.json_response(view.as_json(), status=201)


async def list_invitations(request: web.Request) -> web.Response:
    actor = await current_actor(request)
    found = await request.app[SERVICES].tenancy.invitations.list(actor)
    return web.json_response({"invitations": [view.as_json() for view in found]})


async def revoke(request: web.Request) -> web.Response:
    actor = await current_actor(request)
    await request.app[SERVICES].tenancy.invitations.revoke(actor, request.match_info["id"])
    return web.Response(status=204)


async def accept(request: web.Request) -> web.Response:
    user = signed_in(request)
    body = await parse_body(request, Accept)
    accepted = await request.app[SERVICES].tenancy.invitations.accept(user, body.token)
    org = {"id": accepted.org_id, "name": accepted.org_name, "role": accepted.role}
    return web.json_response({**accepted.tokens, "org": org}, headers=NO_STORE)


def add_routes(app: web.Application, mount: str) -> None:
    app.router.add_post(f"{mount}/invitations/accept", accept)
    app.router.add_post(f"{mount}/invitations", invite)
    app.router.add_get(f"{mount}/invitations", list_invitations)
    app.router.add_delete(mount + "/invitations/{id}", revoke)
