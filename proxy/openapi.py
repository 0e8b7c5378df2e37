"""``GET /openapi.json``: one OpenAPI 3.1 document for everything rowgate answers itself.

The auth, tenancy, API key, rbac, session, admin, well-known and health endpoints come from the
tables in ``proxy.openapi_surface``, ``proxy.openapi_tenancy`` and ``proxy.openapi_admin``
(request bodies are the handlers' own pydantic models, answers the schemas of
``proxy.openapi_answers``); the data API's paths are
generated from the policy in force and the introspected tables (``proxy.data.openapi``), as its own
document at ``{data}/openapi.json`` is.
Every error is an RFC 9457 problem (``components.schemas.Problem``).  Paths the upstream serves
are not rowgate's to describe and are left out.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from rowgate.config.schema import Settings
from rowgate.config.tenancy import ROLE_NAME
from rowgate.proxy import openapi_answers
from rowgate.proxy.appkeys import SERVICES, SETTINGS
from rowgate.proxy.dashboard.openapi import dashboard_endpoints
from rowgate.proxy.data.handlers_rest import data_limits, json_response
from rowgate.proxy.data.openapi import JSON_VALUE, PROBLEM_SCHEMA, data_paths, problems
from rowgate.proxy.data.policy import DataPolicy
from rowgate.proxy.openapi_admin import ADMIN
from rowgate.proxy.openapi_admin import SCHEMAS as ADMIN_SCHEMAS
from rowgate.proxy.openapi_surface import ACCOUNTS, Endpoint, provider_endpoints
from rowgate.proxy.openapi_tenancy import TENANCY

PATH = "/openapi.json"
_SECURITY = {
    "public": [{}],
    "optional": [{"bearer": []}, {"apiKey": []}, {}],
    "user": [{"bearer": []}],
    "member": [{"bearer": []}, {"apiKey": []}],
}
_HTML_ERRORS = ("400", "401", "403", "404", "409", "410", "413", "415", "422", "429", "503")


def surface_document(settings: Settings, policy: DataPolicy) -> dict[str, Any]:
    """The document for ``settings`` and the data policy in force."""
    schemas: dict[str, Any] = {
        "Problem": PROBLEM_SCHEMA,
        "JsonValue": JSON_VALUE,
        **openapi_answers.SCHEMAS,
        **ADMIN_SCHEMAS,
    }
    paths: dict[str, Any] = {}
    endpoints = ACCOUNTS + TENANCY + ADMIN + provider_endpoints(settings.auth.providers)
    for endpoint in endpoints + dashboard_endpoints(settings):
        if endpoint.path == "/metrics" and not settings.server.metrics:
            continue
        path = _mount(settings, endpoint.mount) + endpoint.path
        paths.setdefault(path, {})[endpoint.method] = _operation(endpoint, schemas)
    rows, row_schemas = data_paths(policy.policies, policy.tables, data_limits(settings.data))
    for path, operations in rows.items():
        for operation in operations.values():
            operation["tags"] = ["data"]
        paths[settings.mounts.data + path] = operations
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "rowgate",
            "version": policy.policies.version,
            "description": "Everything rowgate answers itself: accounts, sessions, organisations, API "
            "keys, roles, the data API (generated from the row-level security policy in force) and "
            "health. Errors are RFC 9457 problems with a stable code.",
        },
        "servers": [{"url": settings.public_url}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {**schemas, **row_schemas},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT or API key"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }


def _mount(settings: Settings, mount: str) -> str:
    if mount == "dashboard":
        return settings.dashboard.mount
    return getattr(settings.mounts, mount) if mount else ""


def _operation(endpoint: Endpoint, schemas: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "security": _SECURITY[endpoint.access],
        "responses": {endpoint.status: _success(endpoint), **_errors(endpoint)},
    }
    parameters = [*endpoint.query, *_path_parameters(endpoint.path, dict(endpoint.path_schemas))]
    if endpoint.media == "text/html" and endpoint.method == "get" and endpoint.mount != "dashboard":
        parameters.append(_TOKEN)
    if parameters:
        operation["parameters"] = parameters
    if endpoint.body is not None:
        schema = _model_schema(endpoint.body, schemas)
        if endpoint.alternatives:
            schema = {"anyOf": [schema, *(_model_schema(m, schemas) for m in endpoint.alternatives)]}
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    if endpoint.form:
        fields = {name: {"type": "string", "minLength": 1} for name in endpoint.form}
        form = {"type": "object", "required": list(endpoint.form), "properties": fields}
        operation["requestBody"] = {"required": True, "content": {FORM: {"schema": form}}}
    return operation


_TOKEN = {
    "name": "token",
    "in": "query",
    "required": True,
    "schema": {"type": "string", "minLength": 1},
    "description": "the token from the link in the mail (without one the page says the link is incomplete)",
}


def _success(endpoint: Endpoint) -> dict[str, Any]:
    if endpoint.status == "204":
        return {"description": "Done"}
    if endpoint.status in ("302", "303"):
        location = {"Location": {"schema": {"type": "string"}, "description": "where to go next"}}
        where = (
            "The provider's sign-in page" if endpoint.status == "302" else "See the application's callback"
        )
        return {"description": where, "headers": location}
    if endpoint.answer is None:
        return {"description": "OK", "content": {endpoint.media: {"schema": {"type": "string"}}}}
    return {"description": "OK", "content": {endpoint.media: {"schema": endpoint.answer}}}


def _errors(endpoint: Endpoint) -> dict[str, Any]:
    if endpoint.media == "text/html" and endpoint.mount == "dashboard":
        page = {"text/html": {"schema": {"type": "string"}}}
        found = {status: {"description": "An error page", "content": page} for status in _HTML_ERRORS}
        location = {"Location": {"schema": {"type": "string"}, "description": "where to go next"}}
        return {"303": {"description": "Signed out: to the sign-in page", "headers": location}, **found}
    if endpoint.media == "text/html":
        page = {"text/html": {"schema": {"type": "string"}}}
        return {status: {"description": "The link is not valid", "content": page} for status in _HTML_ERRORS}
    found = problems(endpoint.statuses())
    if endpoint.also is not None:
        status, description, schema = endpoint.also
        found[status] = {"description": description, "content": {"application/json": {"schema": schema}}}
    return found


def _path_parameters(path: str, schemas: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The path's parameters: ids are UUIDs (anything else is a 404, as an unknown id is), unless
    the endpoint says otherwise."""
    names = [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": schemas.get(name) or _PATH_SCHEMAS.get(name, _UUID),
        }
        for name in names
    ]


_UUID = {"type": "string", "format": "uuid"}
FORM = "application/x-www-form-urlencoded"
_PATH_SCHEMAS = {
    "name": {"type": "string", "pattern": f"^{ROLE_NAME.pattern}$"},
    "provider": {"type": "string", "minLength": 1, "maxLength": 64},
}


def _model_schema(model: type[Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """``model``'s JSON Schema as clients send it (camelCase), its nested models hoisted into
    ``schemas``."""
    schema = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


async def openapi(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    return json_response(surface_document(request.app[SETTINGS], services.data.policy))


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, openapi, allow_head=True)
