"""Everything that is not rowgate's own endpoint goes to the upstream app, under the route rules.

A rule may ask for more before forwarding: ``level: owner`` checks that the row named in the path
is the caller's own (``proxy.data.owner``), and ``sql`` rewrites the statement the request carries for
the caller (``proxy.data.upstream_sql``).

Paths under rowgate's own mount points never reach the upstream: a wrong method on one of
rowgate's endpoints is a 405, an unknown path below a mount point a 404.
"""

from __future__ import annotations

from aiohttp import web

from rowgate.config.schema import Settings
from rowgate.errors import MethodNotAllowed, NotFound
from rowgate.proxy.data.access import data_caller
from rowgate.proxy.data.owner import require_owner
from rowgate.proxy.data.upstream_sql import rewrite_request
from rowgate.proxy.keys import FORWARDER, PIPELINE, SERVICES, SETTINGS
from rowgate.proxy.paths import canonical_path
from rowgate.proxy.pipeline import authorize

OWN_PATHS = web.AppKey("own_paths", dict[str, frozenset[str]])


def own_prefixes(settings: Settings) -> tuple[str, ...]:
    mounts = settings.mounts
    return (
        mounts.auth,
        mounts.rbac,
        mounts.data,
        mounts.sql,
        mounts.admin,
        "/.well-known",
        "/healthz",
        "/readyz",
    )


async def forward(request: web.Request) -> web.StreamResponse:
    """Check the path against the route rules, then stream the request to the upstream."""
    path = canonical_path(request.raw_path)
    _refuse_own_paths(request, path)
    match = request.app[PIPELINE].routes.match(request.method, path)
    principal = authorize(request, match)
    forwarder = request.app.get(FORWARDER)
    if forwarder is None:
        raise NotFound("No such endpoint (no upstream is configured).")
    rule = match.rule
    websocket = request.headers.get("Upgrade", "").lower() == "websocket"
    if rule is not None and (rule.owner is not None or rule.sql is not None):
        services = request.app[SERVICES]
        policy = services.data.policy
        caller = await data_caller(principal, services.tenancy.catalog, policy.policies, services.settings)
        if rule.owner is not None:
            await require_owner(services.data, rule.owner, match.params, caller.subject)
        if rule.sql is not None and not websocket:
            limit = services.settings.data.max_body_size
            new = await rewrite_request(request, rule.sql, caller, policy, limit)
            return await forwarder.forward(request, principal, path, body=new.body, query=new.query)
    if websocket:
        return await forwarder.forward_websocket(request, principal, path)
    return await forwarder.forward(request, principal, path)


def _refuse_own_paths(request: web.Request, path: str) -> None:
    allowed = request.app[OWN_PATHS].get(path)
    if allowed:
        methods = ", ".join(sorted(allowed))
        raise MethodNotAllowed(f"Use one of: {methods}.", headers={"Allow": methods})
    settings = request.app[SETTINGS]
    fold = str if settings.routes.case_sensitive else str.casefold
    for prefix in own_prefixes(settings):
        if fold(path) == fold(prefix) or fold(path).startswith(fold(prefix) + "/"):
            raise NotFound("No such rowgate endpoint.")


async def _collect_own_paths(app: web.Application) -> None:
    paths: dict[str, set[str]] = {}
    for resource in app.router.resources():
        info = resource.get_info()
        if "path" in info:
            paths.setdefault(info["path"], set()).update(route.method for route in resource)
    app[OWN_PATHS] = {path: frozenset(methods) for path, methods in paths.items()}


def add_routes(app: web.Application) -> None:
    """The catch-all route; register it after every route of rowgate's own."""
    app.on_startup.append(_collect_own_paths)
    app.router.add_route("*", r"/{tail:[\s\S]*}", forward)  # every path, line breaks included
