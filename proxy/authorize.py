"""The authorizer: may this caller go on?

For upstream paths the route rule decides (``authorize``): its level, then ``mfa`` (the token
shows a second factor: API keys and external tokens never do), then its ``permissions`` (all
required; an API key's scopes are already folded into its permissions).  rowgate's own
endpoints ask for what they need in their handlers (``require_identity``, ``require_user``,
``require_member``).  A credential that was sent but refused answers 401 with its own reason
wherever identity is needed.
"""

from __future__ import annotations

from aiohttp import web

from rowgate.auth.principal import Principal
from rowgate.auth.rbac.permissions import missing
from rowgate.errors import Forbidden, Unauthorized
from rowgate.proxy.appkeys import AUTH_ERROR, PRINCIPAL
from rowgate.proxy.routes import RouteMatch


def enrolment_paths(mount: str) -> frozenset[tuple[str, str]]:
    """What a member who must turn MFA on first may still do (see ``auth.mfa.policy``)."""
    allowed = [("POST", "/mfa/enable"), ("POST", "/mfa/confirm"), ("GET", "/me"), ("POST", "/signout")]
    return frozenset((method, mount + path) for method, path in allowed)


def require_enrolment_first(request: web.Request, allowed: frozenset[tuple[str, str]]) -> None:
    """403 ``mfa_enrolment_required`` for every other request of such a member."""
    if request[PRINCIPAL].mfa_enrolment_required and (request.method, request.path) not in allowed:
        raise Forbidden(
            "Your organisation requires multi-factor authentication: turn it on first "
            "(POST /v1/auth/mfa/enable, then /v1/auth/mfa/confirm), then sign in again or refresh.",
            code="mfa_enrolment_required",
        )


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
    if match.rule is not None and match.rule.mfa and "mfa" not in principal.amr:
        raise Forbidden(
            "This path needs a sign-in with a second factor (multi-factor authentication).",
            code="mfa_required",
        )
    if match.rule is not None and match.rule.permissions:
        lacking = missing(principal.permissions, match.rule.permissions)
        if lacking:
            raise Forbidden(
                f"This path needs permissions you do not hold: {', '.join(lacking)}.",
                code="permission_denied",
                extra={"missing": lacking},
            )
    return principal
