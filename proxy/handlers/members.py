"""``/v1/auth/members``: list the organisation's members, change a role, remove a member."""

from __future__ import annotations

from aiohttp import web

from rowgate.errors import BadRequest
from rowgate.proxy.appkeys import SERVICES
from rowgate.proxy.bodies import Body, parse_body
from rowgate.proxy.handlers import answers
from rowgate.proxy.handlers.auth_http import require_recent_mfa
from rowgate.proxy.handlers.context import current_actor
from rowgate.proxy.handlers.fields import RoleName


class ChangeRole(Body):
    role: RoleName


#: Members per page when ``limit`` is not given, and the most one page may hold.
DEFAULT_LIMIT, MAX_LIMIT = 100, 500


async def list_members(request: web.Request) -> web.Response:
    """``GET /members?limit=N&cursor=C``: ``{"members": [...], "next": C | null}``."""
    actor = await current_actor(request)
    limit = _limit(request.query.get("limit"))
    page = await request.app[SERVICES].tenancy.members.list(
        actor, limit=limit, cursor=request.query.get("cursor")
    )
    return web.json_response({"members": [answers.member(m) for m in page.members], "next": page.next})


def _limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_LIMIT):
        raise BadRequest(
            f"limit: expected a whole number from 1 to {MAX_LIMIT}, got {text[:40]!r}", code="invalid_limit"
        )
    return int(text)


async def change_role(request: web.Request) -> web.Response:
    actor = await current_actor(request)
    await require_recent_mfa(request)
    body = await parse_body(request, ChangeRole)
    member = await request.app[SERVICES].tenancy.members.change_role(
        actor, request.match_info["user_id"], body.role
    )
    return web.json_response(answers.member(member))


async def remove(request: web.Request) -> web.Response:
    actor = await current_actor(request)
    await request.app[SERVICES].tenancy.members.remove(actor, request.match_info["user_id"])
    return web.Response(status=204)


def add_routes(app: web.Application, mount: str) -> None:
    app.router.add_get(f"{mount}/members", list_members)
    app.router.add_patch(mount + "/members/{user_id}", change_role)
    app.router.add_delete(mount + "/members/{user_id}", remove)
