"""API keys: the organisation's keys with their use, creating one (its secret shown once),
rotating one (the old key keeps working for a grace period) and revoking one
(``auth.apikeys.service``, as ``/v1/auth/api-keys`` does, step-up rule included)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Literal

from aiohttp import web

from rowgate.auth.apikeys.service import Keep
from rowgate.auth.mfa import stepup
from rowgate.auth.mfa.service import SecondFactor
from rowgate.errors import Forbidden, ValidationFailed
from rowgate.proxy.appkeys import SERVICES
from rowgate.proxy.dashboard.guard import form_of, see_other
from rowgate.proxy.dashboard.page import Page, Route
from rowgate.proxy.dashboard.render import render
from rowgate.proxy.dashboard.session import Admin
from rowgate.proxy.handlers.auth_http import client

#: Grace periods offered when rotating (the form's values, in seconds).
GRACE = {"0": timedelta(0), "3600": timedelta(hours=1), "86400": timedelta(days=1)}
KINDS: tuple[Literal["secret", "publishable"], ...] = ("secret", "publishable")
STEP_UP = (
    "Creating or rotating a key needs a second factor given in the last minutes: "
    "enter a code below, then repeat."
)


async def view(
    request: web.Request, admin: Admin, notice: str | None = None, secret: str | None = None
) -> web.StreamResponse:
    actor = admin.require_actor()
    keys = await request.app[SERVICES].tenancy.api_keys.list(actor)
    now = datetime.now(UTC)
    return render(
        request,
        admin,
        "api_keys.html",
        title="API keys",
        keys=[(key, key.status(now)) for key in keys],
        notice=notice,
        secret=secret,
    )


async def create(request: web.Request, admin: Admin) -> web.StreamResponse:
    actor = admin.require_actor()
    await _require_recent_mfa(request, admin)
    form = form_of(request)
    name, kind = form.get("name", "").strip(), form.get("type", "")
    if not name or len(name) > 100 or kind not in KINDS:
        raise ValidationFailed(
            "Give the key a name (at most 100 characters) and a type.",
            errors=[{"field": "name", "message": "required"}],
        )
    scopes = form.get("scopes", "").replace(",", " ").split()
    created = await request.app[SERVICES].tenancy.api_keys.create(
        actor, name=name, kind=kind if kind == "publishable" else "secret", scopes=scopes, expires_at=None
    )
    return await view(request, admin, notice=f"Key {created.view.name!r} created.", secret=created.key)


async def rotate(request: web.Request, admin: Admin) -> web.StreamResponse:
    actor = admin.require_actor()
    await _require_recent_mfa(request, admin)
    grace = GRACE.get(form_of(request).get("grace", "0"))
    if grace is None:
        raise ValidationFailed(
            "Choose a grace period from the list.", errors=[{"field": "grace", "message": "unknown"}]
        )
    created, previous = await request.app[SERVICES].tenancy.api_keys.rotate(
        actor, request.match_info["key_id"], grace, None, Keep.KEEP
    )
    return await view(request, admin, notice=f"Key {previous.name!r} rotated.", secret=created.key)


async def step_up(request: web.Request, admin: Admin) -> web.StreamResponse:
    """A fresh second factor for the dashboard's session (``auth.mfa.stepup``), then the keys."""
    code = form_of(request).get("code", "").strip()
    if not code or len(code) > 64:
        raise ValidationFailed("Enter the code.", errors=[{"field": "code", "message": "required"}])
    second = SecondFactor(code=code) if code.isdigit() else SecondFactor(backup_code=code)
    ident = request.app[SERVICES].identity
    await stepup.step_up(ident, admin.user_id, admin.session_id, second, client(request))
    return see_other(request, PAGE.path)


async def revoke(request: web.Request, admin: Admin) -> web.StreamResponse:
    actor = admin.require_actor()
    await request.app[SERVICES].tenancy.api_keys.revoke(actor, request.match_info["key_id"])
    return await view(request, admin, notice="The key was revoked.")


async def _require_recent_mfa(request: web.Request, admin: Admin) -> None:
    """The API's step-up rule, read from the dashboard session (its ``amr`` and last factor)."""
    auth = stepup.Authentication(admin.user_id, admin.amr, admin.auth_time)
    ident = request.app[SERVICES].identity
    if stepup.is_recent(auth, ident.settings.auth.mfa.step_up_window, time.time()):
        return
    if await ident.mfa.enabled(admin.user_id):
        raise Forbidden(STEP_UP, code="mfa_required")


PAGE = Page(
    "/api-keys",
    "API keys",
    view,
    routes=(
        Route("POST", "/api-keys", create, "Create an API key", ("name", "type", "scopes")),
        Route("POST", "/api-keys/{key_id}/rotate", rotate, "Rotate an API key", ("grace",)),
        Route("POST", "/api-keys/{key_id}/revoke", revoke, "Revoke an API key"),
        Route("POST", "/api-keys/step-up", step_up, "A fresh second factor for key changes", ("code",)),
    ),
)
