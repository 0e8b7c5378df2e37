"""The dashboard's routes for the OpenAPI document: HTML pages and their forms, each one line
built from the page registry (so a page added there is documented by itself)."""

from __future__ import annotations

from rowgate.config.schema import Settings
from rowgate.proxy.dashboard.pages import PAGES
from rowgate.proxy.dashboard.security import CSRF_FIELD
from rowgate.proxy.dashboard.static import TYPES
from rowgate.proxy.openapi_surface import HTML, Endpoint

TAG = "dashboard"


def _page(method: str, path: str, summary: str, form: tuple[str, ...] = ()) -> Endpoint:
    fields = (CSRF_FIELD, *form) if method == "post" else ()
    return Endpoint(method, "dashboard", path, summary, TAG, media=HTML, form=fields)


def dashboard_endpoints(settings: Settings) -> tuple[Endpoint, ...]:
    """Every dashboard route (none when ``dashboard.enabled`` is off)."""
    if not settings.dashboard.enabled:
        return ()
    fixed = (
        _page("get", "", "The admin dashboard's overview (signed out: to the sign-in page)"),
        _page("get", "/signin", "The dashboard's sign-in page"),
        _page("post", "/signin", "Sign in to the dashboard with a password", ("email", "password")),
        _page("post", "/signin/mfa", "The second factor of a dashboard sign-in", ("mfa_token", "code")),
        _page("post", "/signout", "Sign out of the dashboard (ends its session)"),
        _page("post", "/org", "Open another organisation the admin administers", ("org",)),
        *(
            Endpoint("get", "dashboard", f"/static/{name}", f"The dashboard's {name}", TAG, media=media)
            for name, media in TYPES.items()
        ),
    )
    pages = []
    for page in PAGES:
        pages.append(_page("get", page.path, page.title))
        for route in page.routes:
            pages.append(_page(route.method.lower(), route.path, route.summary, route.form))
    return fixed + tuple(pages)
