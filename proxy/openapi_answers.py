"""JSON Schemas of the answers of rowgate's own endpoints (``proxy.handlers.answers`` builds them).

Kept next to each other so that the OpenAPI document names every answer once; the schemathesis
test checks every answer a live instance gives against them.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

_TEXT: Schema = {"type": "string"}
_MOMENT: Schema = {"type": "string", "format": "date-time"}
_OPTIONAL_MOMENT: Schema = {"type": ["string", "null"], "format": "date-time"}
_OPTIONAL_TEXT: Schema = {"type": ["string", "null"]}


def object_of(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    return {"type": "object", "required": list(required), "properties": {**required, **(optional or {})}}


def _list_of(key: str, ref: str, **more: Schema) -> Schema:
    return object_of({key: {"type": "array", "items": {"$ref": f"#/components/schemas/{ref}"}}, **more})


ORG = object_of({"id": _TEXT, "name": _TEXT, "role": _TEXT})
TOKEN_SET = object_of(
    {
        "accessToken": _TEXT,
        "tokenType": {"type": "string", "enum": ["Bearer"]},
        "expiresIn": {"type": "integer", "minimum": 0},
        "refreshToken": _TEXT,
        "idToken": _OPTIONAL_TEXT,
        "sessionId": _TEXT,
    }
)
SWITCHED = {
    "allOf": [
        {"$ref": "#/components/schemas/TokenSet"},
        object_of({"org": {"$ref": "#/components/schemas/Org"}}),
    ]
}
SESSION = object_of(
    {
        "id": _TEXT,
        "device": _OPTIONAL_TEXT,
        "ip": _OPTIONAL_TEXT,
        "createdAt": _MOMENT,
        "lastSeenAt": _MOMENT,
        "expiresAt": _MOMENT,
        "current": {"type": "boolean"},
    }
)
USER = object_of(
    {
        "id": _TEXT,
        "email": _TEXT,
        "emailVerified": {"type": "boolean"},
        "name": _OPTIONAL_TEXT,
        "createdAt": _MOMENT,
    }
)
ME = object_of(
    {
        "user": {"$ref": "#/components/schemas/User"},
        "org": {"anyOf": [{"$ref": "#/components/schemas/Org"}, {"type": "null"}]},
        "sessionId": _OPTIONAL_TEXT,
    }
)
INVITATION = object_of(
    {
        "id": _TEXT,
        "email": _TEXT,
        "role": _TEXT,
        "invitedBy": _OPTIONAL_TEXT,
        "createdAt": _MOMENT,
        "expiresAt": _MOMENT,
    }
)
MEMBER = object_of(
    {"userId": _TEXT, "email": _TEXT, "name": _OPTIONAL_TEXT, "role": _TEXT, "joinedAt": _MOMENT}
)
ROLE = object_of(
    {
        "name": _TEXT,
        "permissions": {"type": "array", "items": _TEXT},
        "description": _TEXT,
        "builtin": {"type": "boolean"},
        "admin": {"type": "boolean"},
    },
    {"updatedAt": _MOMENT},
)
_RATE_LIMIT: Schema = {
    "anyOf": [
        object_of({"limit": {"type": "integer", "minimum": 1}, "window": {"type": "integer", "minimum": 1}}),
        {"type": "null"},
    ]
}
API_KEY = object_of(
    {
        "id": _TEXT,
        "name": _TEXT,
        "type": {"type": "string", "enum": ["secret", "publishable"]},
        "prefix": _TEXT,
        "scopes": {"type": "array", "items": _TEXT},
        "createdBy": _OPTIONAL_TEXT,
        "createdAt": _MOMENT,
        "expiresAt": _OPTIONAL_MOMENT,
        "lastUsedAt": _OPTIONAL_MOMENT,
        "useCount": {"type": "integer", "minimum": 0},
        "replacedBy": _OPTIONAL_TEXT,
        "graceUntil": _OPTIONAL_MOMENT,
        "status": _TEXT,
        "rateLimit": _RATE_LIMIT,
    }
)
CREATED_KEY = {"allOf": [{"$ref": "#/components/schemas/ApiKey"}, object_of({"key": _TEXT})]}
ROTATED_KEY = {
    "allOf": [
        {"$ref": "#/components/schemas/CreatedKey"},
        object_of({"previous": {"$ref": "#/components/schemas/ApiKey"}}),
    ]
}
ACCEPTED = object_of({"status": {"type": "string", "enum": ["accepted"]}, "detail": _TEXT})
VERIFICATION_SENT = object_of(
    {"status": {"type": "string", "enum": ["verification_required"]}, "detail": _TEXT}
)
SQL_RESULT: Schema = {
    "type": "object",
    "description": "{rows, rowCount, columns}; with explain, the rewritten statement and the rules",
}
JWKS = object_of({"keys": {"type": "array", "items": {"type": "object", "required": ["kty"]}}})
DISCOVERY = object_of({"issuer": _TEXT, "jwks_uri": _TEXT})
HEALTH = object_of({"status": {"type": "string", "enum": ["ok"]}})
READY = object_of({"status": {"type": "string", "enum": ["ready"]}, "database": _TEXT, "store": _TEXT})

LINKED_ACCOUNTS = object_of(
    {
        "accounts": {
            "type": "array",
            "items": object_of({"provider": _TEXT, "email": _OPTIONAL_TEXT, "linkedAt": _MOMENT}),
        },
        "hasPassword": {"type": "boolean"},
        "providers": {"type": "array", "items": _TEXT},
    }
)

MFA_REQUIRED = object_of(
    {"mfaRequired": {"type": "boolean", "enum": [True]}, "mfaToken": _TEXT, "expiresIn": {"type": "integer"}}
)
#: A sign-in's answer: the tokens, or (MFA on) what the second step needs.
SIGNED_IN = {
    "anyOf": [{"$ref": "#/components/schemas/TokenSet"}, {"$ref": "#/components/schemas/MfaRequired"}]
}
MFA_STARTED = object_of({"secret": _TEXT, "otpauthUrl": _TEXT, "qrCodeUrl": _TEXT})
MFA_ENABLED = object_of({"enabled": {"type": "boolean"}, "backupCodes": {"type": "array", "items": _TEXT}})
BACKUP_CODES = object_of({"backupCodes": {"type": "array", "items": _TEXT}})
STEPPED_UP = object_of(
    {
        "accessToken": _TEXT,
        "tokenType": {"type": "string", "enum": ["Bearer"]},
        "expiresIn": {"type": "integer", "minimum": 0},
        "idToken": _OPTIONAL_TEXT,
    }
)
MFA_POLICY = object_of({"mfaPolicy": {"type": "string", "enum": ["off", "admins", "all"]}})

#: The named answers, as they appear under ``components.schemas``.
SCHEMAS: dict[str, Schema] = {
    "Org": ORG,
    "TokenSet": TOKEN_SET,
    "MfaRequired": MFA_REQUIRED,
    "SignedIn": SIGNED_IN,
    "Switched": SWITCHED,
    "Session": SESSION,
    "User": USER,
    "Me": ME,
    "Invitation": INVITATION,
    "Member": MEMBER,
    "Role": ROLE,
    "ApiKey": API_KEY,
    "CreatedKey": CREATED_KEY,
    "RotatedKey": ROTATED_KEY,
    "Joined": SWITCHED,
    "Accepted": ACCEPTED,
    "VerificationSent": VERIFICATION_SENT,
}
#: Lists, by the key they are answered under.
SESSIONS = _list_of("sessions", "Session")
ORGS = _list_of("orgs", "Org")
INVITATIONS = _list_of("invitations", "Invitation")
MEMBERS = _list_of("members", "Member", next=_OPTIONAL_TEXT)
ROLES = _list_of("roles", "Role")
KEYS = _list_of("keys", "ApiKey")
PERMISSIONS = object_of(
    {"permissions": {"type": "array", "items": _TEXT}, "granted": {"type": "array", "items": _TEXT}}
)
