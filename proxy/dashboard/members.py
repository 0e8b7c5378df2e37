"""Members and roles: the organisation's members (search, paging), a member's role, removing a
member, and a member's sessions (end one or all).  The rules are the HTTP API's: the same
services (``auth.orgs.members``, ``auth.admin.members``) decide, last-admin protection included."""

from __future__ import annotations

from aiohttp import web

from rowgate.auth.admin import queries
from rowgate.auth.ids import canonical_uuid
from rowgate.errors import NotFound
from rowgate.proxy.appkeys import SERVICES
from rowgate.proxy.dashboard.guard import form_of, see_other
from rowgate.proxy.dashboard.page import Page, Route
from rowgate.proxy.dashboard.render import render
from rowgate.proxy.dashboard.session import Admin

PAGE_SIZE = 50


async def view(request: web.Request, admin: Admin, notice: str | None = None) -> web.StreamResponse:
    actor = admin.require_actor()
    tenancy = request.app[SERVICES].tenancy
    search = queries.search(request.query.get("search") or None)
    page = await tenancy.member_sessions.users(
        actor, search=search, limit=PAGE_SIZE, cursor=request.query.get("cursor") or None
    )
    return render(
        request,
        admin,
        "members.html",
        title="Members",
        users=page.users,
        next=page.next,
        search=search or "",
        roles=await role_names(request, actor.org_id),
        notice=notice,
    )


async def role_names(request: web.Request, org_id: str) -> list[str]:
    catalog = request.app[SERVICES].tenancy.catalog
    return sorted({*catalog.builtin, *await catalog.custom(org_id)})


async def change_role(request: web.Request, admin: Admin) -> web.StreamResponse:
    actor = admin.require_actor()
    role = form_of(request).get("role", "")
    member = await request.app[SERVICES].tenancy.members.change_role(
        actor, request.match_info["user_id"], role
    )
    return await view(request, admin, notice=f"{member.email} is now {member.role}.")


async def remove(request: web.Request, admin: Admin) -> web.StreamResponse:
    actor = admin.require_actor()
    user_id = request.match_info["user_id"]
    email = await _email(request, actor.org_id, user_id)
    await request.app[SERVICES].tenancy.members.remove(actor, user_id)
    if canonical_uuid(user_id) == admin.user_id:
        return see_other(request, "")  # no longer this organisation's admin
    return await view(request, admin, notice=f"{email} was removed from the organisation.")


async def sessions(request: web.Request, admin: Admin, notice: str | None = None) -> web.StreamResponse:
    actor = admin.require_actor()
    user_id = request.match_info["user_id"]
    found = await request.app[SERVICES].tenancy.member_sessions.sessions(actor, user_id)
    email = await _email(request, actor.org_id, user_id)
    return render(
        request,
        admin,
        "sessions.html",
        title=f"Sessions of {email}",
        member_id=user_id,
        email=email,
        sessions=found,
        notice=notice,
    )


async def end_session(request: web.Request, admin: Admin) -> web.StreamResponse:
    actor = admin.require_actor()
    info = request.match_info
    await request.app[SERVICES].tenancy.member_sessions.end(actor, info["user_id"], info["session_id"])
    return await sessions(request, admin, notice="The session was ended.")


async def end_sessions(request: web.Request, admin: Admin) -> web.StreamResponse:
    actor = admin.require_actor()
    count = await request.app[SERVICES].tenancy.member_sessions.end(actor, request.match_info["user_id"])
    return await sessions(request, admin, notice=f"{count} session(s) ended.")


async def _email(request: web.Request, org_id: str, user_id: str) -> str:
    """The member's address; 404 for anyone not a member of ``org_id``."""
    member = canonical_uuid(user_id)
    email = None
    if member is not None:
        email = await request.app[SERVICES].db.fetchval(
            "SELECT u.email FROM rowgate.memberships m JOIN rowgate.users u ON u.id = m.user_id "
            "WHERE m.org_id = $1 AND m.user_id = $2",
            org_id,
            member,
        )
    if email is None:
        raise NotFound("No such member.", code="member_not_found")
    return str(email)


PAGE = Page(
    "/members",
    "Members",
    view,
    routes=(
        Route("POST", "/members/{user_id}/role", change_role, "Change a member's role", ("role",)),
        Route("POST", "/members/{user_id}/remove", remove, "Remove a member"),
        Route("GET", "/members/{user_id}/sessions", sessions, "A member's sessions"),
        Route("POST", "/members/{user_id}/sessions/end", end_sessions, "End all of a member's sessions"),
        Route(
            "POST",
            "/members/{user_id}/sessions/{session_id}/end",
            end_session,
            "End one of a member's sessions",
        ),
    ),
)
