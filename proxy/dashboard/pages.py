"""The dashboard's pages: ``PAGES`` builds the navigation and the routes, in this order.

Adding a page is one line here (``mymodule.PAGE``) plus its module and template.  The contract:

* **The entry.**  A module exports ``PAGE = Page(path, title, view, routes=(...), needs_org=...)``
  (``proxy.dashboard.page``).  ``path`` is below the mount (``/audit`` is served at
  ``{dashboard.mount}/audit``); ``routes`` are the page's other routes, its forms' actions
  (``Route("POST", "/audit/export", handler, "Export", form=("from", "to"))``) and sub-pages
  (``Route("GET", "/members/{user_id}/sessions", ...)``).  Every route is added to the OpenAPI
  document as an HTML page by itself.
* **The handler.**  ``async def view(request: web.Request, admin: Admin) -> web.StreamResponse``.
  It runs only for a signed-in admin whose session is live (checked in the database on every
  request).  ``admin`` (``proxy.dashboard.session.Admin``) carries ``user_id``, ``email``,
  ``session_id``, ``operator`` (a platform operator, ``audit.operators``), ``orgs`` (the
  organisations they administer), ``org`` (the one chosen in the header: ``.id``, ``.name``,
  ``.role``; ``None`` only for an operator administering none, and only on pages with
  ``needs_org=False``), ``actor`` (``rowgate.auth.actor.Actor`` for the tenancy services;
  ``admin.require_actor()`` on pages with ``needs_org=False``) and ``csrf`` (the form token).
* **Forms.**  Every POST route is checked before its handler runs: the origin (``Origin``,
  ``Sec-Fetch-Site``) and the CSRF token (field ``csrf``, bound to the session); a failure is a
  403 page and the handler never runs.  The handler reads the checked fields with
  ``form_of(request)`` (a ``dict[str, str]``, at most 8 KiB).  A POST without a live session
  is a 401 page; a GET is sent to the sign-in page (and back after it).
* **Ids.**  A path parameter whose name ends in ``_id`` must be a UUID, or the answer is a 404
  page before anything else runs; name other parameters otherwise (``{kid}``).  A template puts
  ``<input type="hidden" name="{{ csrf_field }}" value="{{ csrf }}">`` in every form.
* **Rendering.**  ``render(request, admin, "audit.html", title="Audit log", **values)``
  (``proxy.dashboard.render``): the template ``{% extends "base.html" %}`` and fills
  ``{% block content %}``; it sees ``admin``, ``title``, ``mount``, ``nav``, ``csrf_field``,
  ``csrf``, ``product`` and the ``values``.  Autoescaping is on.  No inline script or style
  (the CSP forbids both): behaviour goes into ``static/dashboard.js``, looks into
  ``static/dashboard.css``.
* **Errors.**  Raise the usual ``rowgate.errors`` (``NotFound`` for an id not in the chosen
  organisation, ``ValidationFailed``/``BadRequest`` for bad input): the dashboard answers an
  HTML page with the error's status and message, never a 500.  Every response gets the
  dashboard's security headers (``proxy.dashboard.security``).
"""

from __future__ import annotations

from dataclasses import dataclass

from rowgate.proxy.dashboard import alerts, api_keys, audit, invitations, members, playground, signing_keys
from rowgate.proxy.dashboard.page import Page
from rowgate.proxy.dashboard.session import Admin

PAGES: tuple[Page, ...] = (
    members.PAGE,
    invitations.PAGE,
    api_keys.PAGE,
    audit.PAGE,
    alerts.PAGE,
    signing_keys.PAGE,
    playground.PAGE,
)


@dataclass(frozen=True, slots=True)
class NavEntry:
    href: str
    title: str
    current: bool


def navigation(mount: str, path: str, admin: Admin | None) -> list[NavEntry]:
    """The entries ``admin`` can open, the one ``path`` is on (or below) marked current."""
    if admin is None:
        return []
    entries = []
    for page in PAGES:
        if (page.needs_org and admin.org is None) or (page.operators_only and not admin.operator):
            continue
        href = mount + page.path
        entries.append(NavEntry(href, page.title, path == href or path.startswith(href + "/")))
    return entries
