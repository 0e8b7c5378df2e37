"""Every error rowgate raises on purpose, in one tree.

Each class carries the HTTP ``status`` it maps to and a stable machine ``code``
(clients match on the code, never on the message).  One middleware renders any
``RowgateError`` as RFC 9457 ``application/problem+json``; anything else that
escapes a handler is logged and answered with a bare 500 that reveals nothing.

    RowgateError                      500 internal
    ├── ConfigError                   (start-up only: exit code 2)
    ├── DecryptionFailed              500 decryption_failed   (wrong master key or tampered ciphertext)
    ├── BadRequest                    400 bad_request
    │   ├── ValidationFailed          422 validation_failed   (field errors in ``errors``)
    │   ├── MalformedBody             400 malformed_body
    │   ├── PayloadTooLarge           413 payload_too_large
    │   ├── ResponseTooLarge          422 response_too_large  (data API: the answer would be too large)
    │   ├── HeadersTooLarge           431 headers_too_large
    │   ├── RequestTimeout            408 request_timeout     (headers or body sent too slowly)
    │   ├── UnsupportedMediaType      415 unsupported_media_type
    │   └── QueryRefused              400 query_refused       (RLS: the statement cannot run)
    ├── Unauthorized                  401 unauthorized
    │   ├── InvalidToken              401 invalid_token
    │   ├── TokenExpired              401 token_expired
    │   ├── TokenRevoked              401 token_revoked
    │   └── InvalidCredentials        401 invalid_credentials
    ├── Forbidden                     403 forbidden
    │   └── WriteRefused              403 write_refused       (RLS: policy forbids this write)
    ├── NotFound                      404 not_found
    ├── MethodNotAllowed              405 method_not_allowed
    ├── Conflict                      409 conflict
    ├── TooManyRequests               429 rate_limited        (``retry_after`` seconds)
    ├── UpstreamError                 502 upstream_unavailable
    │   └── UpstreamTimeout           504 upstream_timeout
    ├── ServiceUnavailable            503 service_unavailable
    └── GatewayTimeout                504 timeout

Subclasses may refine ``code`` per raise site (``Conflict(code="email_taken")``)
so that callers can distinguish cases without new classes for every one.

Messages (``detail``) are written for the developer calling rowgate: what went
wrong and what to do.  They never carry SQL, tokens, secrets or policy text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar


class RowgateError(Exception):
    """Base of every deliberate rowgate error."""

    status: ClassVar[int] = 500
    default_code: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal error"

    def __init__(
        self,
        detail: str = "",
        *,
        code: str | None = None,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.code = code or self.default_code
        self.extra: dict[str, Any] = dict(extra or {})
        self.headers: dict[str, str] = dict(headers or {})

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        """The RFC 9457 problem document for this error."""
        body: dict[str, Any] = {
            "type": f"https://rowgate.dev/problems/{self.code.replace('_', '-')}",
            "title": self.title,
            "status": self.status,
            "code": self.code,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class ConfigError(RowgateError):
    """Configuration that cannot be used; every problem listed with its file and key path."""

    default_code = "config_invalid"
    title = "Invalid configuration"

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class DecryptionFailed(RowgateError):
    """Sealed data could not be opened: the master key differs from the one that sealed it, the data
    was altered, or it was sealed for another purpose.  Never answered with anything but a bare 500."""

    default_code = "decryption_failed"
    title = "Decryption failed"


class BadRequest(RowgateError):
    status = 400
    default_code = "bad_request"
    title = "Bad request"


class ValidationFailed(BadRequest):
    """Well-formed input with invalid fields; ``errors`` lists each field and what was expected."""

    status = 422
    default_code = "validation_failed"
    title = "Validation failed"

    def __init__(
        self, detail: str, *, errors: Sequence[Mapping[str, str]] = (), code: str | None = None
    ) -> None:
        super().__init__(detail, code=code, extra={"errors": [dict(e) for e in errors]} if errors else None)


class MalformedBody(BadRequest):
    default_code = "malformed_body"
    title = "Malformed request body"


class PayloadTooLarge(BadRequest):
    status = 413
    default_code = "payload_too_large"
    title = "Payload too large"


class ResponseTooLarge(BadRequest):
    """The answer to a well-formed request would exceed a size limit (413 is about requests)."""

    status = 422
    default_code = "response_too_large"
    title = "Response too large"


class HeadersTooLarge(BadRequest):
    status = 431
    default_code = "headers_too_large"
    title = "Request header fields too large"


class RequestTimeout(BadRequest):
    status = 408
    default_code = "request_timeout"
    title = "Request timeout"


class UnsupportedMediaType(BadRequest):
    status = 415
    default_code = "unsupported_media_type"
    title = "Unsupported media type"


class QueryRefused(BadRequest):
    """The RLS engine refuses to run a statement; ``detail`` says which rule and what to change."""

    default_code = "query_refused"
    title = "Query refused"


class Unauthorized(RowgateError):
    status = 401
    default_code = "unauthorized"
    title = "Authentication required"

    def __init__(self, detail: str = "", *, code: str | None = None) -> None:
        super().__init__(detail, code=code, headers={"WWW-Authenticate": 'Bearer realm="rowgate"'})


class InvalidToken(Unauthorized):
    default_code = "invalid_token"
    title = "Invalid token"


class TokenExpired(InvalidToken):
    default_code = "token_expired"
    title = "Token expired"


class TokenRevoked(InvalidToken):
    default_code = "token_revoked"
    title = "Token revoked"


class InvalidCredentials(Unauthorized):
    default_code = "invalid_credentials"
    title = "Invalid credentials"


class Forbidden(RowgateError):
    status = 403
    default_code = "forbidden"
    title = "Forbidden"


class WriteRefused(Forbidden):
    """A write the policy does not allow this caller (the table or operation is closed to its groups)."""

    default_code = "write_refused"
    title = "Write refused by policy"


class NotFound(RowgateError):
    status = 404
    default_code = "not_found"
    title = "Not found"


class MethodNotAllowed(RowgateError):
    status = 405
    default_code = "method_not_allowed"
    title = "Method not allowed"


class Conflict(RowgateError):
    status = 409
    default_code = "conflict"
    title = "Conflict"


class TooManyRequests(RowgateError):
    status = 429
    default_code = "rate_limited"
    title = "Too many requests"

    def __init__(self, detail: str = "", *, retry_after: int, code: str | None = None) -> None:
        retry_after = max(1, int(retry_after))
        super().__init__(
            detail, code=code, extra={"retryAfter": retry_after}, headers={"Retry-After": str(retry_after)}
        )
        self.retry_after = retry_after


class UpstreamError(RowgateError):
    status = 502
    default_code = "upstream_unavailable"
    title = "Upstream unavailable"


class UpstreamTimeout(UpstreamError):
    status = 504
    default_code = "upstream_timeout"
    title = "Upstream timed out"


class ServiceUnavailable(RowgateError):
    status = 503
    default_code = "service_unavailable"
    title = "Service unavailable"

    def __init__(self, detail: str = "", *, code: str | None = None, retry_after: int = 1) -> None:
        super().__init__(detail, code=code, headers={"Retry-After": str(retry_after)})


class GatewayTimeout(RowgateError):
    status = 504
    default_code = "timeout"
    title = "Timed out"
