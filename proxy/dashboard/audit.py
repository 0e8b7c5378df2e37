"""The audit log page: the organisation's events (a platform operator's: everyone's), filtered.

The filters are a GET form read by the same code as ``GET /v1/admin/audit`` (``queries``), so a
bad value is the same 400 with the same message, shown as a page.  Two things differ for people:
``user`` takes an email address as well as an id (looked up among the members the admin may read
about), and the time fields take a browser's ``datetime-local`` value, read as UTC.  Pages go
both ways (``older`` and ``newer`` hold a position, never a filter or a scope); the export link
streams the current filter as NDJSON, recorded as ``audit.exported`` like the API's export.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from rowgate.auth.admin import queries
from rowgate.auth.admin.audit_log import AuditEvent, AuditPage, Scope
from rowgate.auth.admin.queries import FILTER_PARAMETERS, AuditFilter
from rowgate.auth.orgs.seams import SignedIn
from rowgate.errors import BadRequest
from rowgate.proxy.appkeys import SERVICES
from rowgate.proxy.dashboard.page import Page, Route
from rowgate.proxy.dashboard.render import render
from rowgate.proxy.dashboard.security import protect
from rowgate.proxy.dashboard.session import Admin
from rowgate.proxy.handlers import answers
from rowgate.proxy.handlers.admin_audit import NDJSON
from rowgate.proxy.handlers.context import client_context

#: Events per page.
PAGE_SIZE = 50
PARAMETERS = FILTER_PARAMETERS | {"older", "newer"}
#: What a ``datetime-local`` field sends: no offset, minutes or seconds.
_LOCAL = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,6})?)?")
#: Offered as event-name beginnings (any other beginning may be typed).
PREFIXES = (
    "signin.",
    "signup.",
    "mfa.",
    "session.",
    "refresh.",
    "apikey.",
    "member.",
    "invitation.",
    "key.",
    "alert.",
    "policy.",
    "audit.",
)


def scope_of(admin: Admin) -> Scope:
    """A platform operator reads every organisation's events; an admin, their organisation's."""
    return None if admin.operator else admin.require_actor().org_id


def form_values(query: Mapping[str, str]) -> dict[str, str]:
    """The query string without empty fields (a GET form sends every field), unknown names refused."""
    queries.refuse_unknown(query, frozenset(PARAMETERS))
    return {name: value.strip() for name, value in query.items() if value.strip()}


def api_values(form: Mapping[str, str]) -> dict[str, str]:
    """The filter as ``queries`` reads it: ``datetime-local`` times as UTC."""
    values = {name: form[name] for name in FILTER_PARAMETERS if name in form}
    for name in ("from", "to"):
        if name in values and _LOCAL.fullmatch(values[name]):
            values[name] += "+00:00"
    return values


async def resolve_user(request: web.Request, scope: Scope, values: dict[str, str]) -> None:
    """``user`` given as an email address becomes the id of that member (of any user for an
    operator); 400 when there is none, whether or not such an account exists elsewhere."""
    text = values.get("user")
    if text is None or "@" not in text:
        return
    db = request.app[SERVICES].db
    found = await db.fetchval(
        "SELECT u.id::text FROM rowgate.users u WHERE u.email = lower($1) AND ($2::uuid IS NULL "
        "OR EXISTS (SELECT 1 FROM rowgate.memberships m WHERE m.user_id = u.id AND m.org_id = $2::uuid))",
        text[:320],
        scope,
    )
    if found is None:
        raise BadRequest(f"user: no member has the email address {text[:80]!r}.", code="invalid_user")
    values["user"] = found


async def read_filter(request: web.Request, scope: Scope) -> tuple[dict[str, str], AuditFilter]:
    form = form_values(request.query)
    values = api_values(form)
    await resolve_user(request, scope, values)
    return form, queries.audit_filter(values, FILTER_PARAMETERS)


def link(base: str, form: Mapping[str, str], **changes: str) -> str:
    """``base`` with the current filter and ``changes`` (a position) as its query string."""
    values = {k: v for k, v in form.items() if k not in ("older", "newer")} | changes
    return f"{base}?{urlencode(values)}" if values else base


async def emails(request: web.Request, events: list[AuditEvent]) -> dict[str, str]:
    """The email address of each user the events name."""
    ids = sorted({e.user_id for e in events if e.user_id})
    if not ids:
        return {}
    rows = await request.app[SERVICES].db.fetch(
        "SELECT id::text, email FROM rowgate.users WHERE id = ANY($1::uuid[])", ids
    )
    return {row["id"]: row["email"] for row in rows}


async def view(request: web.Request, admin: Admin) -> web.StreamResponse:
    scope = scope_of(admin)
    form, found = await read_filter(request, scope)
    if "older" in form and "newer" in form:
        raise BadRequest("older and newer: give one of them.", code="invalid_cursor")
    page = await request.app[SERVICES].tenancy.audit_log.browse(
        scope, found, PAGE_SIZE, form.get("older"), form.get("newer")
    )
    return render(
        request,
        admin,
        "audit.html",
        title="Audit log",
        **await context(request, admin, form, found, page),
    )


async def context(
    request: web.Request, admin: Admin, form: dict[str, str], found: AuditFilter, page: AuditPage
) -> dict[str, Any]:
    base = request.path
    export = None
    if found.since is not None and found.until is not None:
        export = link(base + "/export", form)
    return {
        "form": form,
        "events": page.events,
        "emails": await emails(request, page.events),
        "details": {e.id: _details(e) for e in page.events},
        "older": link(base, form, older=page.next) if page.next else None,
        "newer": link(base, form, newer=page.previous) if page.previous else None,
        "export": export,
        "everyone": admin.operator,
        "prefixes": PREFIXES,
        "filtered": any(name in form for name in FILTER_PARAMETERS),
    }


def _details(event: AuditEvent) -> str:
    return ", ".join(f"{key}: {json.dumps(value)}" for key, value in event.details.items())


async def export(request: web.Request, admin: Admin) -> web.StreamResponse:
    """The current filter's events as NDJSON (a time range is required, as for the API)."""
    scope = scope_of(admin)
    _, found = await read_filter(request, scope)
    if found.since is None or found.until is None:
        raise BadRequest("An export needs a time range: from and to.", code="time_range_required")
    log = request.app[SERVICES].tenancy.audit_log
    who = SignedIn(admin.user_id, admin.session_id, admin.amr, client_context(request))
    await log.note_export(who, scope, found)
    response = protect(web.StreamResponse())
    response.content_type = NDJSON
    response.headers["Content-Disposition"] = 'attachment; filename="audit.ndjson"'
    await response.prepare(request)
    async for event in log.export(scope, found):
        await response.write(json.dumps(answers.audit_event(event)).encode() + b"\n")
    await response.write_eof()
    return response


PAGE = Page(
    "/audit",
    "Audit log",
    view,
    routes=(Route("GET", "/audit/export", export, "The audit log's filtered events as NDJSON"),),
    needs_org=False,
)
