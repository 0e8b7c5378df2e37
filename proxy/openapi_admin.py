"""The admin part of rowgate's own endpoints for the OpenAPI document: the audit trail and the
organisation's users and their sessions (``proxy.openapi_surface`` says how to read an
``Endpoint``)."""

from __future__ import annotations

from typing import Any

from rowgate.auth.admin import queries
from rowgate.proxy.openapi_answers import SESSION, object_of
from rowgate.proxy.openapi_surface import Endpoint, query, ref

_TEXT: dict[str, Any] = {"type": "string"}
_OPTIONAL_TEXT: dict[str, Any] = {"type": ["string", "null"]}
_MOMENT: dict[str, Any] = {"type": "string", "format": "date-time"}

AUDIT_EVENT = object_of(
    {
        "id": _TEXT,
        "at": _MOMENT,
        "event": _TEXT,
        "outcome": {"type": "string", "enum": ["success", "failure"]},
        "userId": _OPTIONAL_TEXT,
        "orgId": _OPTIONAL_TEXT,
        "sessionId": _OPTIONAL_TEXT,
        "ip": _OPTIONAL_TEXT,
        "userAgent": _OPTIONAL_TEXT,
        "device": _OPTIONAL_TEXT,
        "details": {"type": "object"},
    }
)
ADMIN_USER = object_of(
    {
        "id": _TEXT,
        "email": _TEXT,
        "name": _OPTIONAL_TEXT,
        "emailVerified": {"type": "boolean"},
        "role": _TEXT,
        "joinedAt": _MOMENT,
        "activeSessions": {"type": "integer", "minimum": 0},
    }
)
#: A member's session as an admin sees it: a session, without ``current`` (never the admin's own).
MEMBER_SESSION = object_of(
    {
        name: schema
        for name, schema in SESSION["properties"].items()
        if name in SESSION["required"] and name != "current"
    }
)
SCHEMAS = {"AuditEvent": AUDIT_EVENT, "AdminUser": ADMIN_USER, "MemberSession": MEMBER_SESSION}

_PAGE = (
    query("limit", {"type": "integer", "minimum": 1, "maximum": queries.MAX_LIMIT}, "entries per page"),
    query("cursor", {"type": "string"}, "the next value of the previous page"),
)
_MOMENTS = (
    query("from", _MOMENT, "events at or after this moment (RFC 3339 with an offset)"),
    query("to", _MOMENT, "events before this moment"),
)
_FILTERS = (
    query("user", {"type": "string", "format": "uuid"}, "events of this user"),
    query("event", {"type": "string", "pattern": "^[a-z0-9_.]{1,64}$"}, "events whose name starts so"),
    query("outcome", {"type": "string", "enum": ["success", "failure"]}, "successes or failures"),
    query("ip", {"type": "string", "maxLength": 45}, "events from this address"),
)
_SEARCH = query("search", {"type": "string", "maxLength": queries.MAX_TEXT}, "part of email or name")

ADMIN: tuple[Endpoint, ...] = (
    Endpoint(
        "get",
        "admin",
        "/audit",
        "The organisation's audit trail, newest first (operators: every organisation's)",
        "admin",
        answer=object_of({"events": {"type": "array", "items": ref("AuditEvent")}, "next": _OPTIONAL_TEXT}),
        access="user",
        query=_FILTERS + _MOMENTS + _PAGE,
        errors=("400",),
    ),
    Endpoint(
        "get",
        "admin",
        "/audit/export",
        "Every event of a time range as NDJSON, one event a line",
        "admin",
        answer={"type": "string"},
        access="user",
        query=_FILTERS + tuple({**parameter, "required": True} for parameter in _MOMENTS),
        errors=("400",),
        media="application/x-ndjson",
    ),
    Endpoint(
        "get",
        "admin",
        "/users",
        "The organisation's users by email, with search",
        "admin",
        answer=object_of({"users": {"type": "array", "items": ref("AdminUser")}, "next": _OPTIONAL_TEXT}),
        access="user",
        query=(_SEARCH, *_PAGE),
        errors=("400",),
    ),
    Endpoint(
        "get",
        "admin",
        "/users/{user_id}/sessions",
        "A member's live sessions",
        "admin",
        answer=object_of({"sessions": {"type": "array", "items": ref("MemberSession")}}),
        access="user",
    ),
    Endpoint(
        "delete",
        "admin",
        "/users/{user_id}/sessions",
        "End all of a member's sessions, on every instance",
        "admin",
        answer=object_of({"revoked": {"type": "integer", "minimum": 0}}),
        access="user",
    ),
    Endpoint(
        "delete",
        "admin",
        "/users/{user_id}/sessions/{session_id}",
        "End one of a member's sessions, on every instance",
        "admin",
        "204",
        access="user",
    ),
)
