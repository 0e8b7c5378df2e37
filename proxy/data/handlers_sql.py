"""``POST /v1/sql``: ``{sql, params?, rowMode?, explain?}`` → ``{rows, rowCount, columns}``.

Who may call it is ``data.sql_access`` (off, admin, authenticated, public); which operations the
statement may take is the caller's table permissions' business, and which rows it reaches the
policy's.  ``explain: true`` (tenant admins only) answers the rewritten statement and the rule
applied to each table instead of running it.  ``rowMode: "array"`` answers each row as an array of
values in the order of ``columns`` (for results whose column names repeat).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from rowgate.errors import Forbidden, NotFound
from rowgate.proxy.appkeys import PRINCIPAL, SERVICES, SETTINGS
from rowgate.proxy.authorize import require_identity
from rowgate.proxy.bodies import Body, parse_body
from rowgate.proxy.data.handlers_rest import caller_of, json_response
from rowgate.proxy.data.sql import RowMode, explain_sql, run_sql


class SqlBody(Body):
    sql: str
    params: list[Any] = []
    row_mode: RowMode = "object"
    explain: bool = False


async def sql(request: web.Request) -> web.Response:
    access = request.app[SETTINGS].data.sql_access
    if access == "off":
        raise NotFound("The SQL endpoint is turned off (data.sql_access: off).", code="sql_disabled")
    caller = await caller_of(request)
    if access != "public":
        require_identity(request)
    admin = "admin" in request[PRINCIPAL].groups
    if access == "admin" and not admin:
        raise Forbidden(
            "The SQL endpoint is for tenant admins (data.sql_access: admin).", code="admin_required"
        )
    api = request.app[SERVICES].data
    body = await parse_body(request, SqlBody, api.settings.max_body_size)
    if body.explain:
        if not admin:
            raise Forbidden("explain is for tenant admins.", code="admin_required")
        return json_response(explain_sql(api, caller, body.sql, body.params))
    return json_response(await run_sql(api, caller, body.sql, body.params, body.row_mode))


def add_routes(app: web.Application) -> None:
    app.router.add_post(app[SETTINGS].mounts.sql, sql)
