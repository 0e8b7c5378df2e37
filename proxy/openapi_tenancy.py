"""The tenancy part of rowgate's own endpoints for the OpenAPI document: organisations, members,
invitations, API keys, roles, and the SQL endpoint (``proxy.openapi_surface`` says how to read
an ``Endpoint``)."""

from __future__ import annotations

from rowgate.proxy import openapi_answers as answer
from rowgate.proxy.data import handlers_sql
from rowgate.proxy.handlers import api_keys, invitations, members, orgs, rbac
from rowgate.proxy.openapi_surface import HTML, Endpoint, query, ref

_MEMBER_PAGE = (
    query("limit", {"type": "integer", "minimum": 1, "maximum": members.MAX_LIMIT}, "members per page"),
    query("cursor", {"type": "string"}, "the next value of the previous page"),
)

TENANCY: tuple[Endpoint, ...] = (
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
        body=handlers_sql.SqlBody,
        access="optional",
        errors=("403", "404", "409"),
    ),
)
