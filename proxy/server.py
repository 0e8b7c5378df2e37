"""Running the application: HTTP limits, problem+json for malformed HTTP, graceful shutdown.

aiohttp answers requests it cannot parse (a header line over the limit, a broken request line)
itself, as plain text, before any middleware runs.  ``ProblemRequestHandler`` renders those as
RFC 9457 problems too, so every error a client can see from rowgate has the same shape.  Its
connections have a deadline for their headers and a cap on slow ones (``proxy.connections``).
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import signal
import socket
from collections.abc import Callable

from aiohttp import http_exceptions, web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from rowgate.config.schema import Settings
from rowgate.errors import BadRequest, HeadersTooLarge, RowgateError, ServiceUnavailable
from rowgate.proxy.appkeys import TRUSTED_PROXIES
from rowgate.proxy.connections import CONNECTIONS, ConnectionGuard, GuardedRequestHandler, client_gone
from rowgate.proxy.problem import problem_response

log = logging.getLogger("rowgate.server")


class ProblemRequestHandler(GuardedRequestHandler):
    """aiohttp's connection handler, answering parse errors and crashes with problem+json."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0 or (exc is not None and client_gone(request, exc)):
            raise ConnectionError("Response is sent already, cannot send another response with the error")
        error: RowgateError
        if isinstance(exc, http_exceptions.LineTooLong):
            error = HeadersTooLarge("A request line or header is longer than this server accepts.")
        elif isinstance(exc, http_exceptions.HttpProcessingError) or 400 <= status < 500:
            error = BadRequest("The request is not valid HTTP.", code="malformed_request")
        else:
            log.error("error handling a request", exc_info=exc)
            error = RowgateError("Something went wrong on our side; it has been logged.")
        response = problem_response(error)
        response.force_close()
        return response


class ProblemServer(web.Server):
    guard: ConnectionGuard

    def __call__(self) -> RequestHandler:
        handler = ProblemRequestHandler(self, loop=self._loop, **self._kwargs)
        handler.guard = self.guard
        return handler


class ProblemAppRunner(web.AppRunner):
    """An AppRunner whose connections use ``ProblemRequestHandler`` with the app's guard."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = ProblemServer
        assert isinstance(server, ProblemServer)
        server.guard = self.app[CONNECTIONS]
        return server


async def start(
    app: web.Application,
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    sock: socket.socket | None = None,
) -> tuple[ProblemAppRunner, int]:
    """Start serving ``app`` (on ``sock`` when given: a worker's shared socket); returns the runner
    and the port actually bound."""
    app[CONNECTIONS] = ConnectionGuard.from_settings(settings.server, app[TRUSTED_PROXIES])
    runner = ProblemAppRunner(
        app,
        access_log=None,
        handle_signals=False,
        shutdown_timeout=settings.server.shutdown_timeout.total_seconds(),
        max_line_size=settings.server.max_header_size,
        max_field_size=settings.server.max_header_size,
        max_headers=100,
    )
    await runner.setup()
    if sock is not None:
        await web.SockSite(runner, sock).start()
        return runner, int(sock.getsockname()[1])
    host, port = host or settings.server.host, settings.server.port if port is None else port
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise cannot_listen(host, port, exc, flag="--port") from exc
    bound = int(runner.addresses[0][1])
    return runner, bound


def check_port(host: str, port: int, *, flag: str) -> None:
    """Fail at once, before anything starts, when ``port`` cannot be listened on (busy, say)."""
    if port == 0:
        return
    try:
        for family, kind, proto, _, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp does
                probe.bind(address)
    except OSError as exc:
        raise cannot_listen(host, port, exc, flag=flag) from exc


def cannot_listen(host: str, port: int, exc: OSError, *, flag: str) -> ServiceUnavailable:
    """One sentence for a port rowgate cannot listen on, naming the flag that picks another."""
    if exc.errno == errno.EADDRINUSE:
        reason = "is already in use (another program, or another rowgate, is listening there)"
    else:
        reason = f"cannot be listened on ({exc.strerror or exc})"
    detail = f"port {port} on {host} {reason}: pass {flag} N to use another."
    return ServiceUnavailable(detail, code="port_in_use")


async def serve_until_stopped(
    app: web.Application,
    settings: Settings,
    on_started: Callable[[int], None] | None = None,
    sock: socket.socket | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM, then finish requests in flight and close cleanly."""
    runner, port = await start(app, settings, sock=sock)
    # What start-up made (modules, config, the app, caches) lives as long as the process: out of
    # the collector's sight, its full passes no longer walk it between requests.
    gc.collect()
    gc.freeze()
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopped.set)
    log.info("serving on port %d", port)
    if on_started:
        on_started(port)
    try:
        await stopped.wait()
        log.info("shutting down: finishing requests in flight")
    finally:
        await runner.cleanup()
