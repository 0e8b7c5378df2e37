"""RFC 9457 problem responses: the one place errors become HTTP."""

from __future__ import annotations

import json

from aiohttp import web

from rowgate.errors import RowgateError

PROBLEM_JSON = "application/problem+json"


def problem_response(error: RowgateError, instance: str | None = None) -> web.Response:
    """Render ``error`` as ``application/problem+json`` with its status and headers."""
    response = web.Response(
        status=error.status,
        body=json.dumps(error.problem(instance), separators=(",", ":")).encode(),
        content_type=PROBLEM_JSON,
        headers=error.headers,
    )
    response.headers["Cache-Control"] = "no-store"
    return response
