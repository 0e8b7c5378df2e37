"""Rendering dashboard templates (Jinja2, autoescaped, undefined names are errors)."""

from __future__ import annotations

from typing import Any

import jinja2
from aiohttp import web

from rowgate.proxy.appkeys import SETTINGS
from rowgate.proxy.dashboard.security import CSRF_FIELD, protect
from rowgate.proxy.dashboard.session import Admin

ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("rowgate.proxy.dashboard", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(
    request: web.Request,
    admin: Admin | None,
    template: str,
    *,
    title: str,
    status: int = 200,
    **values: Any,
) -> web.Response:
    """``template`` (which extends ``base.html``) as an HTML response with the dashboard's headers.

    The template sees ``admin``, ``title``, ``mount``, ``nav`` (the navigation entries, the current
    one marked), ``csrf_field`` and ``csrf`` (the form token), ``product``, and ``values``."""
    from rowgate.proxy.dashboard.pages import navigation  # the registry imports the pages, which import this

    settings = request.app[SETTINGS]
    context = {
        "admin": admin,
        "title": title,
        "mount": settings.dashboard.mount,
        "nav": navigation(settings.dashboard.mount, request.path, admin),
        "csrf_field": CSRF_FIELD,
        "csrf": values.pop("csrf", admin.csrf if admin else ""),
        "product": settings.mail.product_name,
        "notice": None,
        **values,
    }
    text = ENVIRONMENT.get_template(template).render(context)
    response = web.Response(text=text, status=status, content_type="text/html", charset="utf-8")
    protect(response)
    return response
