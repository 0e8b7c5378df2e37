"""``/v1/admin/audit``: the audit trail, a page at a time or exported as NDJSON.

Organisation admins read their organisation's events; platform operators (``audit.operators``)
read every organisation's.  ``Accept: application/x-ndjson`` on ``/audit``, or ``/audit/export``,
streams every event of a time range (``from`` and ``to`` required), one JSON object a line.
"""

from __future__ import annotations

import json

from aiohttp import web

from rowgate.auth.admin import queries
from rowgate.auth.admin.audit_log import Scope
from rowgate.auth.admin.queries import AuditFilter
from rowgate.auth.orgs.seams import SignedIn
from rowgate.proxy.appkeys import SERVICES
from rowgate.proxy.handlers import answers
from rowgate.proxy.handlers.auth_http import NO_STORE, private_json
from rowgate.proxy.handlers.context import current_actor, signed_in

NDJSON = "application/x-ndjson"


async def scope(request: web.Request, user: SignedIn) -> Scope:
    """Every organisation for a platform operator; otherwise the caller's, if they are its admin."""
    if await request.app[SERVICES].tenancy.audit_log.is_operator(user.user_id):
        return None
    actor = await current_actor(request)
    actor.require_admin()
    return actor.org_id


async def audit(request: web.Request) -> web.StreamResponse:
    """``GET /audit?user=&event=&outcome=&ip=&from=&to=&limit=&cursor=``: ``{"events", "next"}``."""
    if NDJSON in request.headers.get("Accept", ""):
        return await export(request)
    within = await scope(request, signed_in(request))
    found = queries.audit_filter(request.query)
    page = await request.app[SERVICES].tenancy.audit_log.page(
        within, found, queries.limit(request.query.get("limit")), request.query.get("cursor")
    )
    return private_json({"events": [answers.audit_event(e) for e in page.events], "next": page.next})


async def export(request: web.Request) -> web.StreamResponse:
    """``GET /audit/export?from=&to=&...``: the events as NDJSON, newest first, streamed."""
    user = signed_in(request)
    within = await scope(request, user)
    found = queries.export_filter(request.query)
    await request.app[SERVICES].tenancy.audit_log.note_export(user, within, found)
    return await _stream(request, within, found)


async def _stream(request: web.Request, within: Scope, found: AuditFilter) -> web.StreamResponse:
    response = web.StreamResponse(headers={**NO_STORE, "Content-Type": NDJSON})
    await response.prepare(request)
    async for event in request.app[SERVICES].tenancy.audit_log.export(within, found):
        await response.write(json.dumps(answers.audit_event(event)).encode() + b"\n")
    await response.write_eof()
    return response


def add_routes(app: web.Application, mount: str) -> None:
    app.router.add_get(f"{mount}/audit", audit, allow_head=False)
    app.router.add_get(f"{mount}/audit/export", export, allow_head=False)
