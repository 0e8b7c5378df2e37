"""Invitations: the organisation's open invitations, inviting someone (a mail with a link), and
revoking an invitation (``auth.orgs.invitations``, as ``/v1/auth/invitations`` does)."""

from __future__ import annotations

from aiohttp import web

from rowgate.errors import ValidationFailed
from rowgate.proxy.appkeys import SERVICES
from rowgate.proxy.dashboard.guard import form_of
from rowgate.proxy.dashboard.members import role_names
from rowgate.proxy.dashboard.page import Page, Route
from rowgate.proxy.dashboard.render import render
from rowgate.proxy.dashboard.session import Admin


async def view(request: web.Request, admin: Admin, notice: str | None = None) -> web.StreamResponse:
    actor = admin.require_actor()
    found = await request.app[SERVICES].tenancy.invitations.list(actor)
    return render(
        request,
        admin,
        "invitations.html",
        title="Invitations",
        invitations=found,
        roles=await role_names(request, actor.org_id),
        notice=notice,
    )


async def create(request: web.Request, admin: Admin) -> web.StreamResponse:
    actor = admin.require_actor()
    form = form_of(request)
    email, role = form.get("email", "").strip(), form.get("role", "")
    if not email or len(email) > 1024:
        raise ValidationFailed(
            "Enter the address to invite.", errors=[{"field": "email", "message": "required"}]
        )
    created = await request.app[SERVICES].tenancy.invitations.create(actor, email, role)
    return await view(request, admin, notice=f"{created.email} was invited as {created.role}.")


async def revoke(request: web.Request, admin: Admin) -> web.StreamResponse:
    actor = admin.require_actor()
    await request.app[SERVICES].tenancy.invitations.revoke(actor, request.match_info["invitation_id"])
    return await view(request, admin, notice="The invitation was revoked.")


PAGE = Page(
    "/invitations",
    "Invitations",
    view,
    routes=(
        Route("POST", "/invitations", create, "Invite someone", ("email", "role")),
        Route("POST", "/invitations/{invitation_id}/revoke", revoke, "Revoke an invitation"),
    ),
)
