"""The JSON answers of rowgate's own endpoints: the auth services' typed results, in camelCase.

The services in ``rowgate.auth`` return dataclasses; this is the one place that decides how
clients see them.  Timestamps are ISO 8601 in UTC with a ``Z``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rowgate.auth.apikeys.service import CreatedKey, KeyView
from rowgate.auth.mfa.challenge import MfaChallenge
from rowgate.auth.orgs.invitations import Accepted, InvitationView
from rowgate.auth.orgs.repo import Member
from rowgate.auth.orgs.switch import OrgView
from rowgate.auth.rbac.custom_roles import RoleView
from rowgate.auth.sessions.issuing import TokenSet
from rowgate.auth.sessions.service import Me, SessionView

Json = dict[str, Any]


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _iso_or_none(value: datetime | None) -> str | None:
    return None if value is None else iso(value)


def signed_in(result: TokenSet | MfaChallenge) -> Json:
    """A sign-in's answer: the tokens, or what the second factor needs (``mfaRequired``)."""
    if isinstance(result, MfaChallenge):
        return {"mfaRequired": True, "mfaToken": result.mfa_token, "expiresIn": result.expires_in}
    return token_set(result)


def token_set(tokens: TokenSet) -> Json:
    return {
        "accessToken": tokens.access_token,
        "tokenType": "Bearer",
        "expiresIn": tokens.expires_in,
        "refreshToken": tokens.refresh_token,
        "idToken": tokens.id_token,
        "sessionId": tokens.session_id,
    }


def session(view: SessionView) -> Json:
    s = view.session
    return {
        "id": s.id,
        "device": s.device,
        "ip": s.ip,
        "createdAt": iso(s.created_at),
        "lastSeenAt": iso(s.last_seen_at),
        "expiresAt": iso(s.expires_at),
        "current": view.current,
    }


def me(found: Me) -> Json:
    user, membership = found.user, found.membership
    return {
        "user": {
            "id": user.id,
            "email": user.email,
            "emailVerified": user.email_verified,
            "name": user.name,
            "createdAt": iso(user.created_at),
        },
        "org": (
            {"id": membership.org_id, "name": membership.org_name, "role": membership.role}
            if membership
            else None
        ),
        "sessionId": found.session_id,
    }


def org(view: OrgView) -> Json:
    return {"id": view.id, "name": view.name, "role": view.role}


def switched(view: OrgView, tokens: TokenSet) -> Json:
    return {**token_set(tokens), "org": org(view)}


def accepted(done: Accepted) -> Json:
    return {**token_set(done.tokens), "org": {"id": done.org_id, "name": done.org_name, "role": done.role}}


def invitation(view: InvitationView) -> Json:
    return {
        "id": view.id,
        "email": view.email,
        "role": view.role,
        "invitedBy": view.invited_by,
        "createdAt": iso(view.created_at),
        "expiresAt": iso(view.expires_at),
    }


def member(found: Member) -> Json:
    return {
        "userId": found.user_id,
        "email": found.email,
        "name": found.name,
        "role": found.role,
        "joinedAt": iso(found.joined_at),
    }


def role(view: RoleView) -> Json:
    body: Json = {
        "name": view.name,
        "permissions": list(view.permissions),
        "description": view.description,
        "builtin": view.builtin,
        "admin": view.admin,
    }
    if view.updated_at is not None:
        body["updatedAt"] = iso(view.updated_at)
    return body


def api_key(view: KeyView, now: datetime) -> Json:
    limit = view.own_rate_limit
    return {
        "id": view.id,
        "name": view.name,
        "type": view.type,
        "prefix": view.prefix,
        "scopes": list(view.scopes),
        "createdBy": view.created_by,
        "createdAt": iso(view.created_at),
        "expiresAt": _iso_or_none(view.expires_at),
        "lastUsedAt": _iso_or_none(view.last_used_at),
        "useCount": view.use_count,
        "replacedBy": view.replaced_by,
        "graceUntil": _iso_or_none(view.grace_until),
        "status": view.status(now),
        "rateLimit": None if limit is None else {"limit": limit.limit, "window": limit.seconds},
    }


def created_key(created: CreatedKey, now: datetime) -> Json:
    """A new key's view with the key itself: the one answer that ever shows it."""
    return {**api_key(created.view, now), "key": created.key}
