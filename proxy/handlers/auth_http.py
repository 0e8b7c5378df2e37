"""What the auth handlers share: request context, field types of the bodies, answers.

Answers that carry tokens or account data are ``Cache-Control: no-store`` (RFC 6749 section 5.1),
so no cache between the client and rowgate keeps them.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl

from aiohttp import web
from pydantic import AfterValidator, Field

from rowgate.auth.audit import ClientContext
from rowgate.auth.flows.identity import Identity
from rowgate.auth.mfa import backup, stepup, totp
from rowgate.auth.mfa.stepup import Authentication
from rowgate.errors import MalformedBody, PayloadTooLarge, Unauthorized
from rowgate.proxy.appkeys import CLIENT_IP, SERVICES
from rowgate.proxy.authorize import require_user
from rowgate.proxy.expect import send_continue

#: Longest password a body may carry (the policy's own maximum is lower; see auth.password).
MAX_PASSWORD_INPUT = 4096
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
FORM = "application/x-www-form-urlencoded"
FORM_LIMIT = 8 * 1024


def _display_name(value: str) -> str:
    value = unicodedata.normalize("NFKC", value).strip()
    if not value:
        raise ValueError("must not be blank")
    if any(unicodedata.category(c)[0] == "C" for c in value):
        raise ValueError("must not contain control or invisible formatting characters")
    return value


Password = Annotated[str, Field(max_length=MAX_PASSWORD_INPUT)]
#: An address (``auth.email_address`` validates it; ``format`` tells clients what to send).
EmailText = Annotated[str, Field(max_length=1024, json_schema_extra={"format": "email"})]
TokenText = Annotated[str, Field(max_length=1024)]
DisplayName = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_display_name)]


def _code(value: str) -> str:
    if totp.normalize_code(value) is None:
        raise ValueError("expected the 6 digits your authenticator app shows")
    return value


def _backup_code(value: str) -> str:
    if backup.normalize(value) is None:
        raise ValueError("expected one of your backup codes, like k3m9q-x7v2a")
    return value


MfaCode = Annotated[str, Field(max_length=16), AfterValidator(_code)]
BackupCode = Annotated[str, Field(max_length=32), AfterValidator(_backup_code)]


def client(request: web.Request) -> ClientContext:
    """The client IP (from trusted proxies only) and user agent of ``request``."""
    return ClientContext.of(request[CLIENT_IP], request.headers.get("User-Agent"))


def identity(request: web.Request) -> Identity:
    return request.app[SERVICES].identity


def private_json(data: Any, status: int = 200) -> web.Response:
    """A JSON answer no cache may keep."""
    return web.json_response(data, status=status, headers=NO_STORE)


def no_content() -> web.Response:
    return web.Response(status=204, headers=NO_STORE)


def is_form(request: web.Request) -> bool:
    """True for an HTML form post (rowgate's own link pages); JSON otherwise."""
    return request.content_type == FORM


async def read_form(request: web.Request) -> dict[str, str]:
    """The fields of a small URL-encoded form post."""
    if request.content_length is not None and request.content_length > FORM_LIMIT:
        raise PayloadTooLarge(f"The form is larger than {FORM_LIMIT} bytes.")
    await send_continue(request)
    raw = await request.content.read(FORM_LIMIT + 1)
    if len(raw) > FORM_LIMIT:
        raise PayloadTooLarge(f"The form is larger than {FORM_LIMIT} bytes.")
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise MalformedBody("The form is not valid UTF-8.") from None
    return dict(pairs)


@dataclass(frozen=True, slots=True)
class Caller:
    """The signed-in user making the request (from the verified access token)."""

    user_id: str
    org_id: str | None
    session_id: str | None


async def require_recent_mfa(request: web.Request) -> None:
    """Sensitive operations: 403 ``mfa_required`` unless the caller (a user with MFA) gave a second
    factor within ``auth.mfa.step_up_window`` (see ``auth.mfa.stepup``)."""
    principal = require_user(request)
    if principal.user_id is not None:
        auth = Authentication(principal.user_id, principal.amr, principal.auth_time)
        await stepup.require_recent_mfa(identity(request), auth)


def caller(request: web.Request) -> Caller:
    """The signed-in user, or 401 (no valid token) / 403 (an API key, not a user)."""
    principal = require_user(request)
    if principal.user_id is None:  # require_user refuses these; this keeps the type honest
        raise Unauthorized("Sign in first: send Authorization: Bearer <access token>.")
    return Caller(principal.user_id, principal.org_id, principal.session_id)
