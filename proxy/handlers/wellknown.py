"""``/.well-known``: the public signing keys and the OpenID discovery document."""

from __future__ import annotations

from aiohttp import web

from rowgate.auth.tokens.discovery import (
    DISCOVERY_CACHE_CONTROL,
    JWKS_PATH,
    jwks_cache_control,
    openid_configuration,
)
from rowgate.proxy.appkeys import SERVICES, SETTINGS


async def jwks(request: web.Request) -> web.Response:
    document = request.app[SERVICES].tokens.keyring.jwks()
    return web.json_response(
        document,
        content_type="application/jwk-set+json",
        headers={"Cache-Control": jwks_cache_control(request.app[SETTINGS])},
    )


async def discovery(request: web.Request) -> web.Response:
    document = openid_configuration(request.app[SETTINGS])
    return web.json_response(document, headers={"Cache-Control": DISCOVERY_CACHE_CONTROL})


def add_routes(app: web.Application) -> None:
    app.router.add_get(JWKS_PATH, jwks, allow_head=True)
    app.router.add_get("/.well-known/openid-configuration", discovery, allow_head=True)
