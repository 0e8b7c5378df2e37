"""Every error rowgate raises on purpose, in one tree, free of HTTP.

Each class carries a stable machine ``code`` (clients match on the code, never on the message)
and a short ``title``.  Which HTTP status a class answers with is the HTTP layer's business
alone: ``rowgate.proxy.problem`` maps classes to statuses in one table and renders RFC 9457
``application/problem+json``; anything else that escapes a handler is logged and answered with a
bare 500 that reveals nothing.  The RLS engine's refusals (``rowgate.rls.errors``) hang under
``RowgateError`` too, so the engine needs nothing but this module and sqlglot.

    RowgateError                      internal
    ├── ConfigError                   config_invalid          (start-up only: exit code 2)
    ├── DecryptionFailed              decryption_failed       (wrong master key or tampered ciphertext)
    ├── BadRequest                    bad_request
    │   ├── ValidationFailed          validation_failed       (field errors in ``errors``)
    │   ├── MalformedBody             malformed_body
    │   ├── PayloadTooLarge           payload_too_large
    │   ├── ResponseTooLarge          response_too_large      (data API: the answer would be too large)
    │   ├── HeadersTooLarge           headers_too_large
    │   ├── RequestTimeout            request_timeout         (headers or body sent too slowly)
    │   ├── UnsupportedMediaType      unsupported_media_type
    │   └── ExpectationFailed         expectation_failed      (an Expect header other than 100-continue)
    ├── Unauthorized                  unauthorized
    │   ├── InvalidToken              invalid_token
    │   │   ├── TokenExpired          token_expired
    │   │   └── TokenRevoked          token_revoked
    │   └── InvalidCredentials        invalid_credentials
    ├── Forbidden                     forbidden
    ├── NotFound                      not_found
    ├── MethodNotAllowed              method_not_allowed
    ├── Conflict                      conflict
    ├── TooManyRequests               rate_limited            (``retry_after`` seconds)
    ├── UpstreamError                 upstream_unavailable
    │   └── UpstreamTimeout           upstream_timeout
    ├── ServiceUnavailable            service_unavailable
    ├── GatewayTimeout                timeout
    └── rls.errors.Refusal            refused                 (the RLS engine will not run a statement)
        ├── QueryRefused              query_refused           (the statement cannot run)
        └── WriteRefused              write_refused           (the policy forbids this write)

Subclasses may refine ``code`` per raise site (``Conflict(code="email_taken")``)
so that callers can distinguish cases without new classes for every one.  ``extra`` holds
members a client needs beyond the message (``errors``, ``retryAfter``) and ``headers`` the
response headers that go with the error (``WWW-Authenticate``, ``Retry-After``).

Messages (``detail``) are written for the developer calling rowgate: what went
wrong and what to do.  They never carry SQL, tokens, secrets or policy text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar


class RowgateError(Exception):
    """Base of every deliberate rowgate error."""

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
    default_code = "bad_request"
    title = "Bad request"


class ValidationFailed(BadRequest):
    """Well-formed input with invalid fields; ``errors`` lists each field and what was expected."""

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
    default_code = "payload_too_large"
    title = "Payload too large"


class ResponseTooLarge(BadRequest):
    """The answer to a well-formed request would exceed a size limit (413 is about requests)."""

    default_code = "response_too_large"
    title = "Response too large"


class HeadersTooLarge(BadRequest):
    default_code = "headers_too_large"
    title = "Request header fields too large"


class RequestTimeout(BadRequest):
    default_code = "request_timeout"
    title = "Request timeout"


class UnsupportedMediaType(BadRequest):
    default_code = "unsupported_media_type"
    title = "Unsupported media type"


class ExpectationFailed(BadRequest):
    """An ``Expect`` header rowgate cannot meet (anything but ``100-continue``)."""

    default_code = "expectation_failed"
    title = "Expectation failed"


class Unauthorized(RowgateError):
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
    default_code = "forbidden"
    title = "Forbidden"


class NotFound(RowgateError):
    default_code = "not_found"
    title = "Not found"


class MethodNotAllowed(RowgateError):
    default_code = "method_not_allowed"
    title = "Method not allowed"


class Conflict(RowgateError):
    default_code = "conflict"
    title = "Conflict"


class TooManyRequests(RowgateError):
    default_code = "rate_limited"
    title = "Too many requests"

    def __init__(self, detail: str = "", *, retry_after: int, code: str | None = None) -> None:
        retry_after = max(1, int(retry_after))
        super().__init__(
            detail, code=code, extra={"retryAfter": retry_after}, headers={"Retry-After": str(retry_after)}
        )
        self.retry_after = retry_after


class UpstreamError(RowgateError):
    default_code = "upstream_unavailable"
    title = "Upstream unavailable"


class UpstreamTimeout(UpstreamError):
    default_code = "upstream_timeout"
    title = "Upstream timed out"


class ServiceUnavailable(RowgateError):
    default_code = "service_unavailable"
    title = "Service unavailable"

    def __init__(self, detail: str = "", *, code: str | None = None, retry_after: int = 1) -> None:
        super().__init__(detail, code=code, headers={"Retry-After": str(retry_after)})


class GatewayTimeout(RowgateError):
    default_code = "timeout"
    title = "Timed out"
