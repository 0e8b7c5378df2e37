"""``/v1/rbac``: roles (built-in and custom), the permission catalogue, assigning a role."""

from __future__ import annotations

from aiohttp import web

from rowgate.auth.rbac.permissions import concrete
from rowgate.proxy.appkeys import SERVICES, SETTINGS
from rowgate.proxy.bodies import Body, parse_body
from rowgate.proxy.handlers import answers
from rowgate.proxy.handlers.context import current_actor
from rowgate.proxy.handlers.fields import Description, Id, Permissions, RoleName
from rowgate.rls.policy import ACTIONS


class CreateRole(Body):
    name: RoleName
    permissions: Permissions
    description: Description = ""


class UpdateRole(Body):
    permissions: Permissions
    description: Description = ""


class Assign(Body):
    user_id: Id
    role: RoleName


async def list_roles(request: web.Request) -> web.Response:
    actor = await current_actor(request)
    roles = await request.app[SERVICES].tenancy.roles.list(actor)
    return web.json_response({"roles": [answers.role(role) for role in roles]})


async def create_role(request: web.Request) -> web.Response:
    actor = await current_actor(request)
    body = await parse_body(request, CreateRole)
    role = await request.app[SERVICES].tenancy.roles.create(
        actor, body.name, body.permissions, body.description
    )
    return web.json_response(answers.role(role), status=201)


async def update_role(request: web.Request) -> web.Response:
    actor = await current_actor(request)
    body = await parse_body(request, UpdateRole)
    role = await request.app[SERVICES].tenancy.roles.update(
        actor, request.match_info["name"], body.permissions, body.description
    )
    return web.json_response(answers.role(role))


async def delete_role(request: web.Request) -> web.Response:
    actor = await current_actor(request)
    await request.app[SERVICES].tenancy.roles.delete(actor, request.match_info["name"])
    return web.Response(status=204)


async def permissions(request: web.Request) -> web.Response:
    """Every permission this organisation's roles, the route rules and the data API's tables name,
    and the caller's own."""
    actor = await current_actor(request)
    settings = request.app[SETTINGS]
    services = request.app[SERVICES]
    custom = await services.tenancy.catalog.custom(actor.org_id)
    policies = services.data.policy.policies
    tables = [f"{policies.resource(t)}:{a}" for t in policies.tables.values() for a in ACTIONS.values()]
    named = concrete(
        *settings.rbac.roles.values(),
        settings.rbac.permissions,
        *(rule.permissions for rule in settings.routes.rules),
        *custom.values(),
        tables,
    )
    return web.json_response({"permissions": named, "granted": sorted(actor.permissions)})


async def assign(request: web.Request) -> web.Response:
    actor = await current_actor(request)
    body = await parse_body(request, Assign)
    member = await request.app[SERVICES].tenancy.members.change_role(actor, body.user_id, body.role)
    return web.json_response(answers.member(member))


def add_routes(app: web.Application, mount: str) -> None:
    app.router.add_get(f"{mount}/roles", list_roles)
    app.router.add_post(f"{mount}/roles", create_role)
    app.router.add_put(mount + "/roles/{name}", update_role)
    app.router.add_delete(mount + "/roles/{name}", delete_role)
    app.router.add_get(f"{mount}/permissions", permissions)
    app.router.add_post(f"{mount}/assign", assign)
