"""``/v1/auth/orgs`` and ``/v1/auth/switch-org``: the caller's organisations, and the active one."""

from __future__ import annotations

from aiohttp import web

from rowgate.proxy.appkeys import SERVICES
from rowgate.proxy.bodies import Body, parse_body
from rowgate.proxy.handlers import answers
from rowgate.proxy.handlers.context import signed_in
from rowgate.proxy.handlers.fields import Id, Name

NO_STORE = {"Cache-Control": "no-store"}


class CreateOrg(Body):
    name: Name


class SwitchOrg(Body):
    org_id: Id


async def mine(request: web.Request) -> web.Response:
    user = signed_in(request)
    orgs = await request.app[SERVICES].tenancy.orgs.mine(user.user_id)
    return web.json_response({"orgs": [answers.org(org) for org in orgs]})


async def create(request: web.Request) -> web.Response:
    user = signed_in(request)
    body = await parse_body(request, CreateOrg)
    org = await request.app[SERVICES].tenancy.orgs.create(user, body.name)
    return web.json_response(answers.org(org), status=201)


async def switch(request: web.Request) -> web.Response:
    user = signed_in(request)
    body = await parse_body(request, SwitchOrg)
    org, tokens = await request.app[SERVICES].tenancy.orgs.switch(user, body.org_id)
    return web.json_response(answers.switched(org, tokens), headers=NO_STORE)


def add_routes(app: web.Application, mount: str) -> None:
    app.router.add_get(f"{mount}/orgs", mine)
    app.router.add_post(f"{mount}/orgs", create)
    app.router.add_post(f"{mount}/switch-org", switch)
