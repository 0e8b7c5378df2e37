"""``/v1/admin/users``: the organisation's users, and their sessions, which an admin can end."""

from __future__ import annotations

from aiohttp import web

from rowgate.auth.admin import queries
from rowgate.proxy.appkeys import SERVICES
from rowgate.proxy.handlers import answers
from rowgate.proxy.handlers.auth_http import no_content, private_json
from rowgate.proxy.handlers.context import current_actor


async def list_users(request: web.Request) -> web.Response:
    """``GET /users?search=&limit=&cursor=``: ``{"users": [...], "next": C | null}``, by email."""
    actor = await current_actor(request)
    queries.refuse_unknown(request.query, queries.USER_PARAMETERS)
    page = await request.app[SERVICES].tenancy.member_sessions.users(
        actor,
        search=queries.search(request.query.get("search")),
        limit=queries.limit(request.query.get("limit")),
        cursor=request.query.get("cursor"),
    )
    return private_json({"users": [answers.admin_user(u) for u in page.users], "next": page.next})


async def list_sessions(request: web.Request) -> web.Response:
    actor = await current_actor(request)
    found = await request.app[SERVICES].tenancy.member_sessions.sessions(actor, request.match_info["user_id"])
    return private_json({"sessions": [answers.session_of(s) for s in found]})


async def end_session(request: web.Request) -> web.Response:
    actor = await current_actor(request)
    info = request.match_info
    await request.app[SERVICES].tenancy.member_sessions.end(actor, info["user_id"], info["session_id"])
    return no_content()


async def end_sessions(request: web.Request) -> web.Response:
    actor = await current_actor(request)
    count = await request.app[SERVICES].tenancy.member_sessions.end(actor, request.match_info["user_id"])
    return private_json({"revoked": count})


def add_routes(app: web.Application, mount: str) -> None:
    app.router.add_get(f"{mount}/users", list_users, allow_head=False)
    app.router.add_get(mount + "/users/{user_id}/sessions", list_sessions, allow_head=False)
    app.router.add_delete(mount + "/users/{user_id}/sessions", end_sessions)
    app.router.add_delete(mount + "/users/{user_id}/sessions/{session_id}", end_session)
