"""Handing out the tokens of a session: ``TokenSet`` is what sign-in, signup and refresh answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rowgate.auth.tokens.service import TokenService

#: The access token claim of a member who must turn MFA on first (see ``auth.mfa.policy``).
ENROLMENT_CLAIM = "mfa_enrolment_required"

#: The authentication method of a password sign-in (RFC 8176).
PASSWORD_AMR = ("pwd",)


@dataclass(frozen=True, slots=True)
class Grant:
    """What the tokens of a session say about it."""

    user_id: str
    session_id: str
    email: str
    email_verified: bool
    name: str | None
    org_id: str | None
    role: str | None
    amr: tuple[str, ...]
    #: When the user last proved who they are: the sign-in, or a later second factor (step-up).
    authenticated_at: datetime
    #: The organisation's MFA policy covers this member and they have no MFA (``auth.mfa.policy``).
    mfa_enrolment_required: bool = False


@dataclass(frozen=True, slots=True)
class TokenSet:
    access_token: str
    refresh_token: str
    id_token: str
    expires_in: int
    session_id: str


@dataclass(frozen=True, slots=True)
class Reissued:
    """New access and ID tokens for a live session (a step-up), its refresh token unchanged."""

    access_token: str
    id_token: str
    expires_in: int


def issue(issuer: TokenService, grant: Grant, refresh_token: str) -> TokenSet:
    """Access and ID tokens for ``grant``, with the session's new refresh token."""
    tokens = reissue(issuer, grant)
    return TokenSet(tokens.access_token, refresh_token, tokens.id_token, tokens.expires_in, grant.session_id)


def reissue(issuer: TokenService, grant: Grant) -> Reissued:
    """Access and ID tokens for ``grant``."""
    auth_time = int(grant.authenticated_at.timestamp())
    access = issuer.issue_access(
        sub=grant.user_id,
        sid=grant.session_id,
        amr=grant.amr,
        org_id=grant.org_id,
        role=grant.role,
        auth_time=auth_time,
        extra={ENROLMENT_CLAIM: True} if grant.mfa_enrolment_required else None,
    )
    id_token = issuer.issue_id(
        sub=grant.user_id,
        sid=grant.session_id,
        email=grant.email,
        email_verified=grant.email_verified,
        auth_time=auth_time,
        name=grant.name,
    )
    return Reissued(access.token, id_token.token, access.expires_in)
