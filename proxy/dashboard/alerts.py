"""The alerts page: suspicious-activity alerts of the organisation (an operator's: everyone's).

Alerts are ``alert.<rule>`` audit events, so they are read through the audit log with its scope;
each is shown with the signed webhooks queued for it and how far their delivery got (the mail
sent for an alert is not linked to it in the outbox, so it is not shown here).
"""

from __future__ import annotations

from aiohttp import web

from rowgate.auth.admin import queries
from rowgate.auth.admin.queries import AuditFilter
from rowgate.auth.alerts import listing
from rowgate.errors import BadRequest
from rowgate.proxy.appkeys import SERVICES
from rowgate.proxy.dashboard.audit import emails, link, scope_of
from rowgate.proxy.dashboard.page import Page
from rowgate.proxy.dashboard.render import render
from rowgate.proxy.dashboard.session import Admin

PAGE_SIZE = 50
PARAMETERS = frozenset({"kind", "older", "newer"})


async def view(request: web.Request, admin: Admin) -> web.StreamResponse:
    scope = scope_of(admin)
    queries.refuse_unknown(request.query, PARAMETERS)
    form = {name: value for name, value in request.query.items() if value}
    kind = listing.kind(form.get("kind"))
    if "older" in form and "newer" in form:
        raise BadRequest("older and newer: give one of them.", code="invalid_cursor")
    services = request.app[SERVICES]
    found = AuditFilter(event=listing.event_prefix(kind))
    page = await services.tenancy.audit_log.browse(
        scope, found, PAGE_SIZE, form.get("older"), form.get("newer")
    )
    sent = await listing.deliveries(services.db, [event.id for event in page.events])
    base = request.path
    return render(
        request,
        admin,
        "alerts.html",
        title="Alerts",
        alerts=listing.views(page.events, sent),
        summaries={event.id: listing.summary(event.details) for event in page.events},
        emails=await emails(request, page.events),
        kinds=listing.KINDS,
        kind=kind or "",
        enabled=request.app[SERVICES].settings.alerts.enabled,
        webhooks=bool(request.app[SERVICES].settings.alerts.webhooks),
        everyone=admin.operator,
        older=link(base, form, older=page.next) if page.next else None,
        newer=link(base, form, newer=page.previous) if page.previous else None,
    )


PAGE = Page("/alerts", "Alerts", view, needs_org=False)
