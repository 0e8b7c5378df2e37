"""rowgate's own endpoints, one line each, for the OpenAPI document of the whole surface.

Each ``Endpoint`` names the body model its handler parses (so the document's request schemas are
the handlers' own pydantic models and cannot drift), who may call it, what it answers, and the
problem statuses it can give besides the ones its shape implies (see ``Endpoint.statuses``).  A
test checks that these tables (``ACCOUNTS`` here, ``proxy.openapi_tenancy.TENANCY``,
``proxy.openapi_admin.ADMIN``) and the registered aiohttp routes hold the same endpoints.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from rowgate.auth.tokens.discovery import JWKS_PATH
from rowgate.proxy import openapi_answers as answer
from rowgate.proxy.handlers import (
    auth_email,
    auth_magiclink,
    auth_mfa,
    auth_password,
    auth_sessions,
    auth_social,
)

#: Who may call: anyone; anyone, and a credential sent must be valid; a signed-in user; a member of
#: the active organisation (an API key acts as one).
Access = Literal["public", "optional", "user", "member"]
Mount = Literal["", "auth", "rbac", "sql", "data", "admin", "dashboard"]


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One operation of rowgate's own API."""

    method: str
    mount: Mount
    path: str
    summary: str
    tag: str
    status: str = "200"
    answer: dict[str, Any] | None = None
    body: type[BaseModel] | None = None
    access: Access = "public"
    errors: tuple[str, ...] = ()
    query: tuple[dict[str, Any], ...] = ()
    #: Other bodies the handler accepts instead of ``body`` (a magic-link request, say).
    alternatives: tuple[type[BaseModel], ...] = ()
    #: The fields of an HTML form the endpoint takes instead of JSON (rowgate's link pages).
    form: tuple[str, ...] = ()
    #: A second success: its status, what it means, its schema.
    also: tuple[str, str, dict[str, Any]] | None = None
    #: The answer's media type: HTML for rowgate's own link pages (their errors too).
    media: str = "application/json"
    #: Schemas of path parameters that differ from the usual ones (name: schema).
    path_schemas: tuple[tuple[str, dict[str, Any]], ...] = ()

    def statuses(self) -> tuple[str, ...]:
        """The problem statuses: the body's (400, 413, 415, 422), the caller's (401, 403), rate
        limits and an unavailable store (429, 503), and the endpoint's own ``errors``."""
        found = {"429", "503", *self.errors}
        if self.body is not None or self.form:
            found |= {"400", "413", "415", "422"}
        if self.access != "public":
            found.add("401")
        if self.access in ("user", "member"):
            found.add("403")
        if "{" in self.path:
            found.add("404")
        return tuple(sorted(found))


def query(name: str, schema: dict[str, Any], description: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


HTML = "text/html"

#: Health, the well-known documents, accounts, sign-in and sessions.
ACCOUNTS: tuple[Endpoint, ...] = (
    Endpoint("get", "", "/healthz", "Liveness: the process answers", "health", answer=answer.HEALTH),
    Endpoint("get", "", "/readyz", "Readiness: database and store answer", "health", answer=answer.READY),
    Endpoint(
        "get",
        "",
        JWKS_PATH,
        "Public signing keys",
        "well-known",
        answer=answer.JWKS,
        media="application/jwk-set+json",
    ),
    Endpoint(
        "get",
        "",
        "/.well-known/openid-configuration",
        "OpenID discovery",
        "well-known",
        answer=answer.DISCOVERY,
    ),
    Endpoint("get", "", "/openapi.json", "This document", "openapi", answer={"type": "object"}),
    Endpoint("get", "", "/metrics", "Prometheus metrics (server.metrics)", "health", media="text/plain"),
    Endpoint(
        "get", "data", "/openapi.json", "The data API's own document", "data", answer={"type": "object"}
    ),
    # Accounts and sign-in
    Endpoint(
        "post",
        "auth",
        "/email/signup",
        "Create an account (201 signed in, 202 when the address must be confirmed first)",
        "auth",
        "201",
        ref("TokenSet"),
        auth_email.SignupBody,
        errors=("403", "409"),
        alternatives=(auth_magiclink.MagicLinkBody,),
        also=(
            "202",
            "The address must be confirmed first, or (method: magiclink) a sign-in link was mailed",
            {"anyOf": [ref("VerificationSent"), ref("Accepted")]},
        ),
    ),
    Endpoint(
        "post",
        "auth",
        "/email/signin",
        "Sign in (with MFA on, the answer is what the second step needs: POST /mfa/verify)",
        "auth",
        answer=ref("SignedIn"),
        body=auth_email.SigninBody,
        errors=("401", "403"),
        alternatives=(auth_magiclink.MagicLinkBody,),
        also=("202", "(method: magiclink) a sign-in link was mailed", ref("Accepted")),
    ),
    Endpoint("get", "auth", "/email/magiclink", "The page a sign-in link opens", "auth", media=HTML),
    Endpoint(
        "post",
        "auth",
        "/email/magiclink",
        "The sign-in page's form: 303 to the application's callbackUrl with ?code=",
        "auth",
        "303",
        media=HTML,
        form=("token",),
    ),
    Endpoint(
        "post",
        "auth",
        "/token/exchange",
        "Tokens for the code a sign-in link or a social sign-in gave the application",
        "auth",
        answer=ref("SignedIn"),
        body=auth_magiclink.ExchangeBody,
        errors=("401",),
    ),
    Endpoint(
        "get",
        "auth",
        "/accounts",
        "The caller's linked sign-in accounts, and the providers configured",
        "auth",
        answer=answer.LINKED_ACCOUNTS,
        access="user",
    ),
    Endpoint(
        "post",
        "auth",
        "/accounts",
        "Start linking a provider's account (the answer's URL goes to the provider)",
        "auth",
        "201",
        answer.object_of({"authorizeUrl": {"type": "string"}}),
        auth_social.LinkBody,
        "user",
        errors=("404", "409"),
    ),
    Endpoint(
        "delete",
        "auth",
        "/accounts/{provider}",
        "Unlink a provider's account",
        "auth",
        "204",
        access="user",
        errors=("409",),
    ),
    Endpoint(
        "post",
        "auth",
        "/email/verify",
        "Confirm an email address",
        "auth",
        answer=answer.object_of({"emailVerified": {"type": "boolean"}}),
        body=auth_email.TokenBody,
    ),
    Endpoint("get", "auth", "/email/verify", "The page a confirmation link opens", "auth", media=HTML),
    Endpoint(
        "post",
        "auth",
        "/email/verify/resend",
        "Send the confirmation link again",
        "auth",
        "202",
        ref("Accepted"),
        auth_email.EmailBody,
    ),
    Endpoint(
        "post",
        "auth",
        "/password/reset/request",
        "Mail a password reset link",
        "auth",
        "202",
        ref("Accepted"),
        auth_password.ResetRequestBody,
    ),
    Endpoint(
        "post",
        "auth",
        "/password/reset/confirm",
        "Set a new password with a reset token",
        "auth",
        "204",
        body=auth_password.ResetConfirmBody,
    ),
    Endpoint("get", "auth", "/password/reset", "The page a reset link opens", "auth", media=HTML),
    Endpoint(
        "post",
        "auth",
        "/password/change",
        "Change the password (other sessions end)",
        "auth",
        answer=answer.object_of(
            {"passwordChanged": {"type": "boolean"}, "sessionsRevoked": {"type": "integer"}}
        ),
        body=auth_password.ChangeBody,
        access="user",
    ),
    Endpoint(
        "delete",
        "auth",
        "/withdraw",
        "Delete the account",
        "auth",
        "204",
        body=auth_password.WithdrawBody,
        access="user",
    ),
    # Multi-factor authentication
    Endpoint(
        "post",
        "auth",
        "/mfa/enable",
        "Start enrolling an authenticator",
        "mfa",
        answer=answer.MFA_STARTED,
        body=auth_mfa.EnableBody,
        access="user",
        errors=("409",),
    ),
    Endpoint(
        "post",
        "auth",
        "/mfa/confirm",
        "Confirm enrolment with a first code",
        "mfa",
        answer=answer.MFA_ENABLED,
        body=auth_mfa.CodeBody,
        access="user",
        errors=("409",),
    ),
    Endpoint(
        "post",
        "auth",
        "/mfa/backup-codes",
        "New backup codes",
        "mfa",
        answer=answer.BACKUP_CODES,
        body=auth_mfa.CodeBody,
        access="user",
        errors=("409",),
    ),
    Endpoint(
        "post",
        "auth",
        "/mfa/disable",
        "Turn MFA off",
        "mfa",
        "204",
        body=auth_mfa.DisableBody,
        access="user",
        errors=("409",),
    ),
    Endpoint(
        "post",
        "auth",
        "/mfa/verify",
        "The second step of a sign-in",
        "mfa",
        answer=ref("TokenSet"),
        body=auth_mfa.VerifyBody,
        errors=("401", "403"),
    ),
    Endpoint(
        "post",
        "auth",
        "/mfa/step-up",
        "A second factor now: tokens that pass step-up checks",
        "mfa",
        answer=answer.STEPPED_UP,
        body=auth_mfa.StepUpBody,
        access="user",
        errors=("409",),
    ),
    Endpoint(
        "get",
        "auth",
        "/mfa/policy",
        "The organisation's MFA policy",
        "mfa",
        answer=answer.MFA_POLICY,
        access="member",
    ),
    Endpoint(
        "put",
        "auth",
        "/mfa/policy",
        "Change the organisation's MFA policy (admins, after a step-up)",
        "mfa",
        answer=answer.MFA_POLICY,
        body=auth_mfa.PolicyBody,
        access="member",
        errors=("409",),
    ),
    # Sessions
    Endpoint(
        "post",
        "auth",
        "/refresh",
        "New tokens for a refresh token",
        "sessions",
        answer=ref("TokenSet"),
        body=auth_sessions.RefreshBody,
        errors=("401",),
    ),
    Endpoint("post", "auth", "/signout", "End this session", "sessions", "204", access="user"),
    Endpoint("get", "auth", "/me", "The caller", "sessions", answer=ref("Me"), access="user"),
    Endpoint(
        "get", "auth", "/sessions", "The caller's sessions", "sessions", answer=answer.SESSIONS, access="user"
    ),
    Endpoint(
        "delete",
        "auth",
        "/sessions",
        "End every other session",
        "sessions",
        answer=answer.object_of({"revoked": {"type": "integer", "minimum": 0}}),
        access="user",
    ),
    Endpoint("delete", "auth", "/sessions/{session_id}", "End one session", "sessions", "204", access="user"),
)


def provider_endpoints(names: Iterable[str]) -> tuple[Endpoint, ...]:
    """The sign-in routes of the configured providers (``auth.providers``; none without one), their
    ``{provider}`` one of the configured names."""
    provider = (("provider", {"type": "string", "enum": sorted(names)}),)
    if not provider[0][1]["enum"]:
        return ()
    callback = (
        query("state", {"type": "string", "maxLength": 256}, "the attempt's state"),
        query("code", {"type": "string", "maxLength": 2048}, "the provider's code"),
    )
    return (
        Endpoint(
            "get",
            "auth",
            "/{provider}/authorize",
            "Start signing in with a provider: to its sign-in page, the attempt bound to this browser",
            "social",
            "302",
            query=(
                query(
                    "callbackUrl", {"type": "string", "maxLength": 2048}, "one of auth.callback_urls", True
                ),
                query("codeChallenge", {"type": "string", "maxLength": 128}, "PKCE S256, for the exchange"),
                query("linkToken", {"type": "string", "maxLength": 256}, "from POST /accounts, to link"),
            ),
            errors=("400", "422"),
            path_schemas=provider,
        ),
        *(
            Endpoint(
                method,
                "auth",
                "/{provider}/callback",
                "The provider returns here: on to the application with a single-use code (or ?error=)",
                "social",
                "303",
                query=callback,
                errors=("400",),
                path_schemas=provider,
            )
            for method in ("get", "post")
        ),
    )
