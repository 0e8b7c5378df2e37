"""The auth pipeline: authenticate → authorize → mutate, built once from validated config.

* **authenticate**: each authenticator looks at the request and answers a ``Principal``, or
  ``None`` when it is not responsible (no credential of its kind).  The first answer wins; no
  answer at all makes the caller a guest.  A credential that is present but invalid raises, and
  the request continues as a guest with the error kept: public routes still work, every route
  that needs identity answers 401 with the reason.
* **authorize**: the route rule's level decides, then its ``permissions`` (all required; an API
  key's scopes are already folded into its permissions).  Upstream paths only: rowgate's own
  endpoints check what they need in their handlers.
* **mutate**: every ``X-Rowgate-*`` header the client sent is deleted, then the trusted identity
  headers are added.  The upstream can rely on them because nobody else can set them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import CIMultiDict

from rowgate.auth.principal import GUEST, Principal
from rowgate.auth.rbac.permissions import missing
from rowgate.errors import Forbidden, ServiceUnavailable, Unauthorized
from rowgate.proxy.keys import AUTH_ERROR, PIPELINE, PRINCIPAL
from rowgate.proxy.routes import RouteMatch, RouteTable

#: Looks at a request: a Principal, or None when it carries no credential of this kind.
Authenticator = Callable[[web.Request], Awaitable[Principal | None]]

IDENTITY_PREFIX = "x-rowgate-"
API_KEY_HEADER = "X-API-Key"


@dataclass(frozen=True)
class Pipeline:
    authenticators: tuple[Authenticator, ...]
    routes: RouteTable

    async def authenticate(self, request: web.Request) -> Principal:
        """The first authenticator that is responsible decides; nobody responsible → guest."""
        for authenticator in self.authenticators:
            principal = await authenticator(request)
            if principal is not None:
                return principal
        return GUEST


@web.middleware
async def authentication(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Attach the caller's Principal (and any credential error) to every request."""
    try:
        request[PRINCIPAL] = await request.app[PIPELINE].authenticate(request)
        request[AUTH_ERROR] = None
    except (Unauthorized, Forbidden, ServiceUnavailable) as error:
        request[PRINCIPAL] = GUEST
        request[AUTH_ERROR] = error
    return await handler(request)


def require_identity(request: web.Request) -> Principal:
    """The caller's Principal, or 401 (with the credential's own error when one was refused)."""
    principal = request[PRINCIPAL]
    if principal.is_authenticated:
        return principal
    if principal.is_publishable_key:
        raise Forbidden(
            "A publishable API key acts as a guest; this needs a signed-in user or a secret API key.",
            code="publishable_key",
        )
    raise request[AUTH_ERROR] or Unauthorized("Sign in first: send Authorization: Bearer <access token>.")


def require_user(request: web.Request) -> Principal:
    """Like ``require_identity``, but the caller must be a user signed in to rowgate itself (not an
    API key, and not an external issuer's token: those are for the proxied app only)."""
    principal = require_identity(request)
    if principal.user_id is None:
        raise Forbidden("This endpoint is for signed-in users, not API keys.", code="user_required")
    if principal.method not in ("password", "mfa"):
        raise Forbidden(
            "This endpoint is for users signed in to rowgate, not external issuers' tokens.",
            code="rowgate_user_required",
        )
    return principal


def require_member(request: web.Request) -> Principal:
    """Like ``require_user``, with an active organisation (the tenant every answer is confined to)."""
    principal = require_user(request)
    if principal.org_id is None:
        raise Forbidden(
            "Your session has no active organisation; switch to one first.", code="no_organisation"
        )
    return principal


def authorize(request: web.Request, match: RouteMatch) -> Principal:
    """Apply the route rule's level to the caller; returns the Principal or raises 401/403."""
    if match.level == "public":
        return request[PRINCIPAL]
    if match.level == "deny":
        where = f"rule {match.rule.path!r}" if match.rule else "routes.default"
        raise Forbidden(
            f"No route rule allows {request.method} {request.path} ({where} is deny).", code="route_denied"
        )
    principal = require_identity(request)
    if match.level == "admin" and "admin" not in principal.groups:
        raise Forbidden("This path is for organisation admins.", code="admin_required")
    if match.rule is not None and match.rule.permissions:
        lacking = missing(principal.permissions, match.rule.permissions)
        if lacking:
            raise Forbidden(
                f"This path needs permissions you do not hold: {', '.join(lacking)}.",
                code="permission_denied",
                extra={"missing": lacking},
            )
    return principal


def identity_headers(principal: Principal) -> dict[str, str]:
    """The trusted headers that tell the upstream who is calling."""
    values = {
        "X-Rowgate-User-Id": principal.user_id,
        "X-Rowgate-Org-Id": principal.org_id,
        "X-Rowgate-Role": principal.role,
        "X-Rowgate-Session-Id": principal.session_id,
        "X-Rowgate-Api-Key-Id": principal.api_key_id,
        "X-Rowgate-Auth-Method": principal.method,
    }
    return {name: value for name, value in values.items() if value}


def mutate(headers: CIMultiDict[str], principal: Principal, *, keep_bearer: bool = False) -> CIMultiDict[str]:
    """Delete every client-sent ``X-Rowgate-*`` header, then add the trusted ones.

    Credentials rowgate checks go no further: ``X-API-Key`` always stays here (the upstream learns
    which key called from ``X-Rowgate-Api-Key-Id``), and so does a Bearer token unless
    ``upstream.forward_bearer`` asks for it; the upstream then never holds (or logs) them.
    Other ``Authorization`` schemes (Basic for the app's own use) pass through.
    """
    for name in {n for n in headers if n.lower().startswith(IDENTITY_PREFIX)}:
        headers.popall(name, None)
    headers.popall(API_KEY_HEADER, None)
    if not keep_bearer and headers.get("Authorization", "")[:7].lower() == "bearer ":
        del headers["Authorization"]
    headers.update(identity_headers(principal))
    return headers
