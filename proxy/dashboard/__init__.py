"""The admin dashboard: server-rendered pages (Jinja2) for organisation admins, at
``dashboard.mount`` (``/admin``), off with ``dashboard.enabled: false``.

``proxy.dashboard.pages`` lists the pages and says how to add one; ``proxy.dashboard.session``
how signing in works; ``proxy.dashboard.security`` the headers and CSRF checks every response
and form gets.
"""

from __future__ import annotations

from aiohttp import web

from rowgate.config.schema import Settings
from rowgate.proxy.dashboard import signin
from rowgate.proxy.dashboard.guard import guarded, public
from rowgate.proxy.dashboard.pages import PAGES
from rowgate.proxy.dashboard.static import TYPES, static_file


def add_routes(app: web.Application, settings: Settings) -> None:
    """The dashboard's routes below ``dashboard.mount`` (none when it is off)."""
    if not settings.dashboard.enabled:
        return
    mount = settings.dashboard.mount
    router = app.router
    router.add_get(mount, guarded(signin.home, post=False, needs_org=False), allow_head=False)
    router.add_get(mount + "/signin", public(signin.signin_page), allow_head=False)
    router.add_post(mount + "/signin", public(signin.signin))
    router.add_post(mount + "/signin/mfa", public(signin.signin_mfa))
    router.add_post(mount + "/signout", guarded(signin.signout, post=True, needs_org=False))
    router.add_post(mount + "/org", guarded(signin.choose_org, post=True, needs_org=False))
    for name in TYPES:
        router.add_get(f"{mount}/static/{name}", public(static_file), allow_head=False)
    for page in PAGES:
        router.add_get(
            mount + page.path, guarded(page.view, post=False, needs_org=page.needs_org), allow_head=False
        )
        for route in page.routes:
            handler = guarded(route.handler, post=route.method == "POST", needs_org=page.needs_org)
            router.add_route(route.method, mount + route.path, handler)
