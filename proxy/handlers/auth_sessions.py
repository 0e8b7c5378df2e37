"""Refresh, sign-out, the caller (``/me``) and their sessions."""

from __future__ import annotations

from aiohttp import web

from rowgate.auth.sessions import refresh as refresh_flow
from rowgate.auth.sessions import service as sessions
from rowgate.proxy.bodies import Body, parse_body
from rowgate.proxy.handlers import answers
from rowgate.proxy.handlers.auth_http import TokenText, caller, client, identity, no_content, private_json


class RefreshBody(Body):
    refresh_token: TokenText


async def refresh(request: web.Request) -> web.Response:
    body = await parse_body(request, RefreshBody)
    tokens = await refresh_flow.refresh(identity(request), body.refresh_token, client(request))
    return private_json(answers.token_set(tokens))


async def signout(request: web.Request) -> web.Response:
    user = caller(request)
    await sessions.signout(identity(request), user.user_id, user.session_id, client(request))
    return no_content()


async def me(request: web.Request) -> web.Response:
    user = caller(request)
    found = await sessions.me(identity(request), user.user_id, user.org_id, user.session_id)
    return private_json(answers.me(found))


async def list_sessions(request: web.Request) -> web.Response:
    user = caller(request)
    views = await sessions.list_sessions(identity(request), user.user_id, user.session_id)
    return private_json({"sessions": [answers.session(v) for v in views]})


async def revoke_session(request: web.Request) -> web.Response:
    user = caller(request)
    session_id = request.match_info["session_id"]
    await sessions.revoke_session(identity(request), user.user_id, session_id, client(request))
    return no_content()


async def revoke_other_sessions(request: web.Request) -> web.Response:
    user = caller(request)
    count = await sessions.revoke_other_sessions(
        identity(request), user.user_id, user.session_id, client(request)
    )
    return private_json({"revoked": count})


def add_routes(app: web.Application, mount: str) -> None:
    app.router.add_post(f"{mount}/refresh", refresh)
    app.router.add_post(f"{mount}/signout", signout)
    app.router.add_get(f"{mount}/me", me, allow_head=False)
    app.router.add_get(f"{mount}/sessions", list_sessions, allow_head=False)
    app.router.add_delete(f"{mount}/sessions", revoke_other_sessions)
    app.router.add_delete(f"{mount}/sessions/{{session_id}}", revoke_session)
