"""The wrapper every dashboard route runs in: sign-in, CSRF and origin checks, error pages, headers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web

from rowgate.auth.ids import canonical_uuid
from rowgate.errors import NotFound, RowgateError, Unauthorized
from rowgate.proxy.appkeys import SETTINGS
from rowgate.proxy.dashboard.page import PageHandler
from rowgate.proxy.dashboard.render import render
from rowgate.proxy.dashboard.security import CSRF_FIELD, check_csrf, check_origin, protect
from rowgate.proxy.dashboard.session import Admin, cookie_name, current_admin, read_cookie
from rowgate.proxy.handlers.auth_http import read_form
from rowgate.proxy.problem import status_of

log = logging.getLogger("rowgate.dashboard")
FORM = web.RequestKey("dashboard_form", dict[str, str])
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def form_of(request: web.Request) -> dict[str, str]:
    """The fields of the POST being handled (read and CSRF-checked before the handler ran)."""
    form: dict[str, str] = request.get(FORM, {})
    return form


def guarded(handler: PageHandler, *, post: bool, needs_org: bool) -> Handler:
    """``handler`` for signed-in admins only, with the checks its method needs."""

    async def run(request: web.Request) -> web.StreamResponse:
        admin: Admin | None = None
        try:
            if post:  # checked before anything else: a refused form costs no database round trip
                settings = request.app[SETTINGS]
                check_origin(request, settings.public_url)
                form = await read_form(request)
                check_csrf(read_cookie(request, cookie_name(settings)), form.get(CSRF_FIELD))
                request[FORM] = form
            check_ids(request)
            admin = await current_admin(request)
            if admin is None:
                if post:
                    raise Unauthorized("Your dashboard session ended: sign in again.", code="signed_out")
                return to_signin(request)
            if needs_org:
                admin.require_actor()
            return protect(await handler(request, admin))
        except RowgateError as error:
            return error_page(request, admin, error)

    return run


def check_ids(request: web.Request) -> None:
    """404 for a path whose ``{..._id}`` is not a UUID: no such thing exists, signed in or not."""
    for name, value in request.match_info.items():
        if name.endswith("_id") and canonical_uuid(value) is None:
            raise NotFound("No such page.", code="not_found")


def public(handler: Handler) -> Handler:
    """``handler`` (sign-in, static files) with error pages and the security headers."""

    async def run(request: web.Request) -> web.StreamResponse:
        try:
            return protect(await handler(request))
        except RowgateError as error:
            return error_page(request, None, error)

    return run


def error_page(request: web.Request, admin: Admin | None, error: RowgateError) -> web.Response:
    status = status_of(error)
    if status >= 500:
        log.warning("dashboard: %s on %s %s", error.code, request.method, request.path)
    response = render(
        request, admin, "error.html", title=error.title, status=status, detail=error.detail, code=error.code
    )
    if "Retry-After" in error.headers:
        response.headers["Retry-After"] = error.headers["Retry-After"]
    return response


def to_signin(request: web.Request) -> web.StreamResponse:
    """303 to the sign-in page (a GET comes back to where it was going after signing in)."""
    mount = request.app[SETTINGS].dashboard.mount
    where = mount + "/signin"
    if request.method == "GET":
        where += "?next=" + quote(request.path_qs, safe="")
    return redirect(where)


def see_other(request: web.Request, path: str) -> web.StreamResponse:
    """303 to ``path`` below the mount (after a form: the page shows the new state)."""
    return redirect(request.app[SETTINGS].dashboard.mount + path)


def redirect(location: str) -> web.StreamResponse:
    return protect(web.Response(status=303, headers={"Location": location}))
