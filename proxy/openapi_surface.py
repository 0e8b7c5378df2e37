"""rowgate's own endpoints, one line each, for the OpenAPI document of the whole surface.

Each ``Endpoint`` names the body model its handler parses (so the document's request schemas are
the handlers' own pydantic models and cannot drift), who may call it, what it answers, and the
problem statuses it can give besides the ones its shape implies (see ``Endpoint.statuses``).  A
test checks that this table and the registered aiohttp routes hold the same endpoints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from rowgate.auth.tokens.discovery import JWKS_PATH
from rowgate.proxy import openapi_answers as answer
from rowgate.proxy.handlers import (
    api_keys,
    auth_email,
    auth_password,
    auth_sessions,
    invitations,
    members,
    orgs,
    rbac,
    sql,
)

#: Who may call: anyone; anyone, and a credential sent must be valid; a signed-in user; a member of
#: the active organisation (an API key acts as one).
Access = Literal["public", "optional", "user", "member"]
Mount = Literal["", "auth", "rbac", "sql", "data"]


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
    #: A second success: its status, what it means, its schema.
    also: tuple[str, str, dict[str, Any]] | None = None
    #: The answer's media type: HTML for rowgate's own link pages (their errors too).
    media: str = "application/json"

    def statuses(self) -> tuple[str, ...]:
        """The problem statuses: the body's (400, 413, 415, 422), the caller's (401, 403), rate
        limits and an unavailable store (429, 503), and the endpoint's own ``errors``."""
        found = {"429", "503", *self.errors}
        if self.body is not None:
            found |= {"400", "413", "415", "422"}
        if self.access != "public":
            found.add("401")
        if self.access in ("user", "member"):
            found.add("403")
        if "{" in self.path:
            found.add("404")
        return tuple(sorted(found))


def _query(name: str, schema: dict[str, Any], description: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


HTML = "text/html"
_MEMBER_PAGE = (
    _query("limit", {"type": "integer", "minimum": 1, "maximum": members.MAX_LIMIT}, "members per page"),
    _query("cursor", {"type": "string"}, "the next value of the previous page"),
)

ENDPOINTS: tuple[Endpoint, ...] = (
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
        errors=("409",),
        also=("202", "The address must be confirmed first: a link was mailed", ref("VerificationSent")),
    ),
    Endpoint(
        "post",
        "auth",
        "/email/signin",
        "Sign in",
        "auth",
        answer=ref("TokenSet"),
        body=auth_email.SigninBody,
        errors=("401", "403"),
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
    # Tenancy
    Endpoint(
        "get", "auth", "/orgs", "The caller's organisations", "tenancy", answer=answer.ORGS, access="user"
    ),
    Endpoint(
        "post",
        "auth",
        "/orgs",
        "Create an organisation",
        "tenancy",
        "201",
        ref("Org"),
        orgs.CreateOrg,
        "user",
    ),
    Endpoint(
        "post",
        "auth",
        "/switch-org",
        "Make another organisation the active one (new tokens)",
        "tenancy",
        answer=ref("Switched"),
        body=orgs.SwitchOrg,
        access="user",
        errors=("404",),
    ),
    Endpoint(
        "get",
        "auth",
        "/members",
        "Members of the organisation",
        "tenancy",
        answer=answer.MEMBERS,
        access="member",
        query=_MEMBER_PAGE,
        errors=("400",),
    ),
    Endpoint(
        "patch",
        "auth",
        "/members/{user_id}",
        "Change a member's role",
        "tenancy",
        answer=ref("Member"),
        body=members.ChangeRole,
        access="member",
        errors=("409",),
    ),
    Endpoint(
        "delete",
        "auth",
        "/members/{user_id}",
        "Remove a member",
        "tenancy",
        "204",
        access="member",
        errors=("409",),
    ),
    Endpoint(
        "post",
        "auth",
        "/invitations",
        "Invite an address",
        "tenancy",
        "201",
        ref("Invitation"),
        invitations.Invite,
        "member",
        errors=("409",),
    ),
    Endpoint(
        "get",
        "auth",
        "/invitations",
        "Open invitations",
        "tenancy",
        answer=answer.INVITATIONS,
        access="member",
    ),
    Endpoint(
        "delete", "auth", "/invitations/{id}", "Revoke an invitation", "tenancy", "204", access="member"
    ),
    Endpoint(
        "post",
        "auth",
        "/invitations/accept",
        "Accept an invitation (signed in: the token alone; otherwise with the account's password)",
        "tenancy",
        answer=ref("Joined"),
        body=invitations.Accept,
        access="optional",
        errors=("403", "404", "409"),
    ),
    Endpoint(
        "get", "auth", "/invitations/accept", "The page an invitation link opens", "tenancy", media=HTML
    ),
    # API keys
    Endpoint(
        "post",
        "auth",
        "/api-keys",
        "Create an API key",
        "api-keys",
        "201",
        ref("CreatedKey"),
        api_keys.CreateKey,
        "member",
    ),
    Endpoint(
        "get",
        "auth",
        "/api-keys",
        "The organisation's API keys",
        "api-keys",
        answer=answer.KEYS,
        access="member",
    ),
    Endpoint("delete", "auth", "/api-keys/{id}", "Revoke an API key", "api-keys", "204", access="member"),
    Endpoint(
        "post",
        "auth",
        "/api-keys/{id}/rotate",
        "Replace an API key (the old one works for the grace period)",
        "api-keys",
        "201",
        ref("RotatedKey"),
        api_keys.RotateKey,
        "member",
        errors=("409",),
    ),
    # Roles and permissions
    Endpoint(
        "get", "rbac", "/roles", "Roles, built-in and custom", "rbac", answer=answer.ROLES, access="member"
    ),
    Endpoint(
        "post",
        "rbac",
        "/roles",
        "Create a custom role",
        "rbac",
        "201",
        ref("Role"),
        rbac.CreateRole,
        "member",
        errors=("409",),
    ),
    Endpoint(
        "put",
        "rbac",
        "/roles/{name}",
        "Change a custom role",
        "rbac",
        answer=ref("Role"),
        body=rbac.UpdateRole,
        access="member",
        errors=("409",),
    ),
    Endpoint(
        "delete",
        "rbac",
        "/roles/{name}",
        "Delete a custom role",
        "rbac",
        "204",
        access="member",
        errors=("409",),
    ),
    Endpoint(
        "get",
        "rbac",
        "/permissions",
        "Every permission named, and the caller's",
        "rbac",
        answer=answer.PERMISSIONS,
        access="member",
    ),
    Endpoint(
        "post",
        "rbac",
        "/assign",
        "Give a member a role",
        "rbac",
        answer=ref("Member"),
        body=rbac.Assign,
        access="member",
        errors=("404", "409"),
    ),
    # SQL
    Endpoint(
        "post",
        "sql",
        "",
        "Run one SQL statement under the policy (data.sql_access says who may)",
        "data",
        answer=answer.SQL_RESULT,
        body=sql.SqlBody,
        access="optional",
        errors=("403", "404", "409"),
    ),
)
