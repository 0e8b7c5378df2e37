"""A small upstream app for the quick start, the tests and the benchmarks.

It shows what an app behind rowgate sees: ``/api/whoami`` answers with the identity headers
rowgate added; ``/api/echo`` streams the request body back; ``/api/bytes?n=N`` streams N bytes;
``/ws/echo`` echoes WebSocket messages; ``/public/hello`` is a static answer.
"""

from __future__ import annotations

from aiohttp import web

_PAGE = """<!doctype html><html><head><title>rowgate demo app</title></head><body>
<h1>The demo app behind rowgate</h1>
<p>Every request reached this app through rowgate. Try <code>/public/hello</code> (anyone)
and <code>/api/whoami</code> (signed-in users: send <code>Authorization: Bearer &lt;token&gt;</code>).</p>
</body></html>"""


async def index(request: web.Request) -> web.Response:
    return web.Response(text=_PAGE, content_type="text/html")


async def hello(request: web.Request) -> web.Response:
    return web.json_response({"message": "hello from the demo app"})


async def whoami(request: web.Request) -> web.Response:
    """The identity rowgate vouches for, and every header this app received."""
    identity = {k: v for k, v in request.headers.items() if k.lower().startswith("x-rowgate-")}
    return web.json_response(
        {
            "identity": identity,
            "headers": dict(request.headers),
            "method": request.method,
            "path": request.path,
            "query": request.rel_url.raw_query_string,
        }
    )


async def echo(request: web.Request) -> web.StreamResponse:
    """Stream the request body back as it arrives."""
    response = web.StreamResponse(
        headers={"Content-Type": request.content_type or "application/octet-stream"}
    )
    await response.prepare(request)
    async for chunk in request.content.iter_chunked(64 * 1024):
        await response.write(chunk)
    await response.write_eof()
    return response


async def many_bytes(request: web.Request) -> web.StreamResponse:
    """Stream ``n`` bytes (default 1 MiB) in 64 KiB chunks."""
    try:
        total = min(int(request.query.get("n", 1024 * 1024)), 10 * 1024**3)
    except ValueError:
        raise web.HTTPBadRequest(text="n must be an integer") from None
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    response.content_length = total
    await response.prepare(request)
    if request.method == "HEAD":
        await response.write_eof()
        return response
    block = b"x" * (64 * 1024)
    sent = 0
    while sent < total:
        part = block[: min(len(block), total - sent)]
        await response.write(part)
        sent += len(part)
    await response.write_eof()
    return response


async def ws_echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for message in ws:
        if message.type == web.WSMsgType.TEXT:
            await ws.send_str(message.data)
        elif message.type == web.WSMsgType.BINARY:
            await ws.send_bytes(message.data)
    return ws


def build_demo_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/public/hello", hello)
    app.router.add_get("/api/hello", hello)
    app.router.add_route("*", "/api/whoami", whoami)
    app.router.add_route("*", "/admin-only/whoami", whoami)
    app.router.add_post("/api/echo", echo)
    app.router.add_get("/api/bytes", many_bytes)
    app.router.add_get("/ws/echo", ws_echo)
    return app


def main() -> None:
    """``python -m rowgate.proxy.demo [--host H] [--port N]``: run the demo app on its own."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m rowgate.proxy.demo", description="The rowgate demo upstream app."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    web.run_app(build_demo_app(), host=args.host, port=args.port, access_log=None)


if __name__ == "__main__":
    main()
