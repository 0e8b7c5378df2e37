"""The dashboard's two static files, served from the package (no build step, no other files)."""

from __future__ import annotations

from functools import cache
from importlib import resources

from aiohttp import web

from rowgate.errors import NotFound

TYPES = {"dashboard.css": "text/css", "dashboard.js": "text/javascript"}


@cache
def _content(name: str) -> bytes:
    return resources.files("rowgate.proxy.dashboard").joinpath("static", name).read_bytes()


async def static_file(request: web.Request) -> web.StreamResponse:
    name = request.path.rsplit("/", 1)[-1]
    kind = TYPES.get(name)
    if kind is None:
        raise NotFound("No such file.", code="not_found")
    return web.Response(body=_content(name), content_type=kind, charset="utf-8")
