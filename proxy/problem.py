"""RFC 9457 problem responses: the one place errors become HTTP.

``STATUS`` is the one table from error classes to HTTP statuses: an error answers with the
status of the nearest class of its MRO in the table (``TokenExpired`` → ``Unauthorized`` → 401).
The classes themselves (``rowgate.errors``, ``rowgate.rls.errors``) know nothing of HTTP.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from rowgate import errors
from rowgate.errors import RowgateError
from rowgate.rls.errors import QueryRefused, WriteRefused

PROBLEM_JSON = "application/problem+json"

STATUS: dict[type[RowgateError], int] = {
    RowgateError: 500,
    errors.BadRequest: 400,
    errors.ValidationFailed: 422,
    errors.PayloadTooLarge: 413,
    errors.ResponseTooLarge: 422,
    errors.HeadersTooLarge: 431,
    errors.RequestTimeout: 408,
    errors.UnsupportedMediaType: 415,
    errors.ExpectationFailed: 417,
    QueryRefused: 400,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    WriteRefused: 403,
    errors.NotFound: 404,
    errors.MethodNotAllowed: 405,
    errors.Conflict: 409,
    errors.TooManyRequests: 429,
    errors.UpstreamError: 502,
    errors.UpstreamTimeout: 504,
    errors.ServiceUnavailable: 503,
    errors.GatewayTimeout: 504,
}


def status_of(error: RowgateError) -> int:
    """The HTTP status ``error`` answers with: that of the nearest class of its MRO in ``STATUS``."""
    for cls in type(error).__mro__:
        status = STATUS.get(cls)
        if status is not None:
            return status
    return 500


def problem(error: RowgateError, instance: str | None = None) -> dict[str, Any]:
    """The RFC 9457 problem document for ``error``."""
    body: dict[str, Any] = {
        "type": f"https://rowgate.dev/problems/{error.code.replace('_', '-')}",
        "title": error.title,
        "status": status_of(error),
        "code": error.code,
        "detail": error.detail,
    }
    if instance:
        body["instance"] = instance
    body.update(error.extra)
    return body


def problem_response(error: RowgateError, instance: str | None = None) -> web.Response:
    """Render ``error`` as ``application/problem+json`` with its status and headers."""
    response = web.Response(
        status=status_of(error),
        body=json.dumps(problem(error, instance), separators=(",", ":")).encode(),
        content_type=PROBLEM_JSON,
        headers=error.headers,
    )
    response.headers["Cache-Control"] = "no-store"
    return response
