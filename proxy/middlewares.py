"""The outer middleware: request id, errors rendered as problem+json, metrics and access log.

Order (outermost first): ``request_context`` → the pipeline (``proxy.pipeline``) → handler.  One
middleware, not two: each is a coroutine every request passes through, and every resumption too.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from rowgate.auth.telemetry import count_rate_limited, count_refusal, observe_request
from rowgate.errors import (
    BadRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RowgateError,
    TooManyRequests,
)
from rowgate.proxy.appkeys import CLIENT_IP, PRINCIPAL, REQUEST_ID, SETTINGS, TRUSTED_PROXIES
from rowgate.proxy.connections import CLIENT_CLOSED_REQUEST, client_disconnected, client_gone
from rowgate.proxy.expect import close_unless_continued
from rowgate.proxy.logs import request_id_var
from rowgate.proxy.metrics import METRICS
from rowgate.proxy.problem import problem_response, status_of
from rowgate.rls.errors import Refusal

access_log = logging.getLogger("rowgate.access")
log = logging.getLogger("rowgate.errors")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class _RequestIds:
    """Fresh request ids: a random per-process prefix and a counter, 32 hex characters like a
    ``uuid4().hex`` at a fraction of its cost; a forked worker draws its own prefix."""

    def __init__(self) -> None:
        self.reseed()
        os.register_at_fork(after_in_child=self.reseed)

    def reseed(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._counter = itertools.count(int.from_bytes(os.urandom(4)))

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter) & 0xFFFFFFFFFFFFFFFF:016x}"


_new_request_id = _RequestIds().next


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give the request an id (a sane client ``X-Request-Id`` is kept), answer every error as
    problem+json (``_problem``), count the request and log one access line."""
    given = request.headers.get("X-Request-Id", "")
    request_id = given if given and _REQUEST_ID.fullmatch(given) else _new_request_id()
    request[REQUEST_ID] = request_id
    app = request.app
    request[CLIENT_IP] = app[TRUSTED_PROXIES].client_ip(
        request.remote, request.headers.get("X-Forwarded-For")
    )
    token = request_id_var.set(request_id)
    started = time.perf_counter()
    status = 500
    try:
        try:
            response = await handler(request)
        except Exception as exc:
            response = _problem(request, exc)
        status = response.status
        close_unless_continued(request, response)
        if not response.prepared:
            response.headers["X-Request-Id"] = request_id
            response.headers.setdefault("Server", "rowgate")
        return response
    except ConnectionError as exc:
        if client_gone(request, exc):
            status = CLIENT_CLOSED_REQUEST
            client_disconnected(request)
        raise
    finally:
        elapsed = time.perf_counter() - started
        groups = app.get(METRICS)
        if groups is not None:
            observe_request(request.method, status, groups.of_path(request.path), elapsed)
        if app[SETTINGS].logging.access_log and access_log.isEnabledFor(logging.INFO):
            principal = request.get(PRINCIPAL)
            access_log.info(
                "%s %s %s",
                request.method,
                request.path,
                status,
                extra={
                    "request_id": request_id,
                    "method": request.method,
                    "path": request.path,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "client_ip": request[CLIENT_IP],
                    "user_id": principal.user_id if principal else None,
                    "org_id": principal.org_id if principal else None,
                },
            )
        request_id_var.reset(token)


def _problem(request: web.Request, exc: Exception) -> web.StreamResponse:
    """Every error as problem+json; unexpected ones are logged and reveal nothing.  Raises ``exc``
    again when there is nothing to answer: aiohttp's redirects, and clients that went away."""
    if isinstance(exc, RowgateError):
        _count(request, exc)
        if status_of(exc) >= 500:
            cause = exc.__cause__
            log.warning("%s: %s (%s)", exc.code, exc.detail, type(cause).__name__ if cause else "no cause")
        return problem_response(exc, request.path)
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        return problem_response(_from_http(exc), request.path)
    if client_gone(request, exc):
        raise exc  # nobody to answer; counted by request_context, dropped quietly by aiohttp
    log.error("unhandled error in %s %s", request.method, request.path, exc_info=exc)
    return problem_response(RowgateError("Something went wrong on our side; it has been logged."))


def _count(request: web.Request, error: RowgateError) -> None:
    """Count the refusals operators watch: 429s by route group, RLS refusals by code."""
    groups = request.app.get(METRICS)
    if groups is None:
        return
    if isinstance(error, TooManyRequests):
        count_rate_limited(groups.of_path(request.path))
    elif isinstance(error, Refusal):
        count_refusal(error.code)


def _from_http(exc: web.HTTPException) -> RowgateError:
    """aiohttp's own errors (no route, wrong method, body over client_max_size) as rowgate errors."""
    if isinstance(exc, web.HTTPNotFound):
        return NotFound("No such endpoint.")
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods))
        return MethodNotAllowed(f"Use one of: {allowed}.", headers={"Allow": allowed})
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return PayloadTooLarge("The body is larger than this endpoint accepts.")
    if exc.status < 500:
        return BadRequest(exc.reason or "The request could not be understood.")
    return RowgateError("Something went wrong on our side; it has been logged.")
