"""Liveness and readiness."""

from __future__ import annotations

from aiohttp import web

from rowgate.errors import ServiceUnavailable
from rowgate.proxy.appkeys import SERVICES


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process answers.  Never touches a dependency."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: the database and the ephemeral store both answer."""
    services = request.app[SERVICES]
    failed = []
    for name, check in (("database", services.db.ping), ("store", services.store.ping)):
        try:
            await check()
        except ServiceUnavailable:
            failed.append(name)
    if failed:
        raise ServiceUnavailable(f"Not ready: {', '.join(failed)} not reachable.", code="not_ready")
    return web.json_response({"status": "ready", "database": "ok", "store": "ok"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz, allow_head=True)
    app.router.add_get("/readyz", readyz, allow_head=True)
