"""Everything that is not rowgate's own endpoint goes to the upstream app, under the route rules."""

from __future__ import annotations

from aiohttp import web

from config.errors import NotFound
from proxy.keys import FORWARDER, PIPELINE
from proxy.pipeline import authorize
from proxy.routes import canonical_path


async def forward(request: web.Request) -> web.StreamResponse:
    """Check the path against the route rules, then stream the request to the upstream."""
    path = canonical_path(request.raw_path)
    match = request.app[PIPELINE].routes.match(request.method, path)
    principal = authorize(request, match)
    forwarder = request.app.get(FORWARDER)
    if forwarder is None:
        raise NotFound("No such endpoint (no upstream is configured).")
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return await forwarder.forward_websocket(request, principal)
    return await forwarder.forward(request, principal)


def add_routes(app: web.Application) -> None:
    """The catch-all route; register it after every route of rowgate's own."""
    app.router.add_route("*", "/{tail:.*}", forward)
