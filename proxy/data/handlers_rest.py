"""The REST data API over HTTP: ``/v1/data/{table}[/{id}]`` and ``/v1/data/openapi.json``.

Handlers only read the request, call ``proxy.data.rest.DataApi`` and shape the JSON answer.  The
route level is public: which operations a caller may run is its table permissions' business, and
which rows it reaches the policy's (guests included); a credential that was sent but refused is a
401, never a silent guest.  The permission is checked before the query or the body is read.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from rowgate.config.data import DataSettings
from rowgate.errors import MethodNotAllowed
from rowgate.proxy.appkeys import AUTH_ERROR, PRINCIPAL, SERVICES, SETTINGS
from rowgate.proxy.bodies import read_json
from rowgate.proxy.data.access import Caller, data_caller
from rowgate.proxy.data.jsonrows import encode
from rowgate.proxy.data.openapi import Limits, openapi_document
from rowgate.proxy.data.rest import DataApi


async def caller_of(request: web.Request) -> Caller:
    """The data API's caller (RLS subject and table permissions); a refused credential is raised
    rather than ignored."""
    error = request[AUTH_ERROR]
    if error is not None:
        raise error
    services = request.app[SERVICES]
    return await data_caller(
        request[PRINCIPAL], services.tenancy.catalog, services.data.policy.policies, services.settings
    )


def json_response(body: Any, status: int = 200) -> web.Response:
    """A JSON response for rows: UUIDs, times, decimals (as strings, exactly), bytes (base64)."""
    return web.Response(body=encode(body), status=status, content_type="application/json")


def _api(request: web.Request) -> DataApi:
    return request.app[SERVICES].data


async def list_rows(request: web.Request) -> web.Response:
    caller = await caller_of(request)
    api = _api(request)
    table = request.match_info["table"]
    api.permit(caller, table, "read")
    body = await api.read(caller, table, request.rel_url.query.items())
    return web.Response(body=body, content_type="application/json")


async def get_row(request: web.Request) -> web.Response:
    caller = await caller_of(request)
    api = _api(request)
    table = request.match_info["table"]
    api.permit(caller, table, "read")
    row = await api.get(caller, table, request.match_info["id"], request.rel_url.query.get("select"))
    return json_response({"data": row})


async def insert_rows(request: web.Request) -> web.Response:
    caller = await caller_of(request)
    api = _api(request)
    table = request.match_info["table"]
    api.permit(caller, table, "create")
    body = await read_json(request, api.settings.max_body_size)
    rows = await api.insert(caller, table, body)
    return json_response({"data": rows if isinstance(body, list) else rows[0]}, status=201)


async def update_row(request: web.Request) -> web.Response:
    caller = await caller_of(request)
    api = _api(request)
    table = request.match_info["table"]
    api.permit(caller, table, "update")
    body = await read_json(request, api.settings.max_body_size)
    row = await api.update(caller, table, request.match_info["id"], body)
    return json_response({"data": row})


async def delete_row(request: web.Request) -> web.Response:
    caller = await caller_of(request)
    api = _api(request)
    table = request.match_info["table"]
    api.permit(caller, table, "delete")
    return json_response({"data": await api.delete(caller, table, request.match_info["id"])})


async def openapi(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    policy = _api(request).policy
    document = openapi_document(
        policy.policies,
        policy.tables,
        base_url=settings.public_url + settings.mounts.data,
        limits=data_limits(settings.data),
    )
    return json_response(document)


def data_limits(settings: DataSettings) -> Limits:
    """The paging and batch limits the data API enforces, for its OpenAPI documents."""
    return Limits(settings.max_limit, settings.default_limit, settings.max_rows)


def _not_allowed(methods: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        raise MethodNotAllowed(f"Use one of: {methods}.", headers={"Allow": methods})

    return handler


def add_routes(app: web.Application) -> None:
    """Register the data API under ``mounts.data`` (before the upstream catch-all)."""
    mount = app[SETTINGS].mounts.data
    router = app.router
    router.add_get(f"{mount}/openapi.json", openapi, allow_head=True)
    router.add_route("*", f"{mount}/openapi.json", _not_allowed("GET, HEAD"))
    router.add_get(f"{mount}/{{table}}", list_rows, allow_head=True)
    router.add_post(f"{mount}/{{table}}", insert_rows)
    router.add_route("*", f"{mount}/{{table}}", _not_allowed("GET, HEAD, POST"))
    router.add_get(f"{mount}/{{table}}/{{id}}", get_row, allow_head=True)
    router.add_patch(f"{mount}/{{table}}/{{id}}", update_row)
    router.add_delete(f"{mount}/{{table}}/{{id}}", delete_row)
    router.add_route("*", f"{mount}/{{table}}/{{id}}", _not_allowed("DELETE, GET, HEAD, PATCH"))
