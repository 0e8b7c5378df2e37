"""Settings of tenancy: roles and permissions (``rbac:``), API keys (``api_keys:``), invitations
(``invitations:``) and external token issuers (``issuers:``).

Permissions read ``resource:action`` (``tasks:read``); a granted permission may use ``*`` on either
side (``tasks:*``, ``*:read``) and ``*`` alone grants everything.  A permission that is *required*
(by a route rule) names one resource and one action, never a wildcard.
``tenancy_problems`` holds the checks that span keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator

from rowgate.config.model import Model
from rowgate.config.units import Duration

#: One side of a permission: a name, or ``*`` in a granted permission.
PERMISSION_PART = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}"
GRANTED_PERMISSION = re.compile(rf"\*|(?:\*|{PERMISSION_PART}):(?:\*|{PERMISSION_PART})")
REQUIRED_PERMISSION = re.compile(rf"{PERMISSION_PART}:{PERMISSION_PART}")
ROLE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")
#: Asymmetric algorithms only: an external issuer never shares a secret with rowgate.
ExternalAlgorithm = Literal[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"
]


def check_granted(values: tuple[str, ...]) -> tuple[str, ...]:
    """``values`` if each is a permission that may be granted (wildcards allowed)."""
    bad = [v for v in values if not GRANTED_PERMISSION.fullmatch(v)]
    if bad:
        raise ValueError(f"expected permissions like tasks:read, tasks:*, *:read or *, got {bad}")
    return values


def check_required(values: tuple[str, ...]) -> tuple[str, ...]:
    """``values`` if each names one resource and one action (no wildcard)."""
    bad = [v for v in values if not REQUIRED_PERMISSION.fullmatch(v)]
    if bad:
        raise ValueError(f"expected permissions like tasks:read (one resource, one action), got {bad}")
    return values


#: What the shipped policies (``config/policies.yaml``) let each role do: members create, read,
#: update and delete tasks (the policy keeps updates and deletes to their own), read projects, and
#: write posts; viewers only read.
DEFAULT_ROLES: Mapping[str, tuple[str, ...]] = {
    "admin": ("*",),
    "member": (
        "tasks:create",
        "tasks:read",
        "tasks:update",
        "tasks:delete",
        "projects:read",
        "posts:create",
        "posts:read",
        "posts:update",
    ),
    "viewer": ("*:read",),
}


class RbacSettings(Model):
    #: Roles whose members form the RLS ``admin`` group (and pass ``level: admin`` routes).
    admin_roles: tuple[str, ...] = ("admin",)
    #: Built-in roles of every organisation and the permissions each grants.
    roles: dict[str, tuple[str, ...]] = Field(default_factory=lambda: dict(DEFAULT_ROLES))
    #: Further permissions listed by ``GET /v1/rbac/permissions`` (those named by roles and route
    #: rules are listed anyway).
    permissions: tuple[str, ...] = ()
    #: What callers without a role hold on the data API (anonymous callers, publishable keys,
    #: users without an organisation): the policy's ``guest`` group still decides the rows.
    guest_permissions: tuple[str, ...] = ("*:read",)
    #: Custom roles (created per organisation through ``/v1/rbac/roles``) that policies may name
    #: as ``role:<name>``; an organisation without such a role grants nothing through it.
    policy_roles: tuple[str, ...] = ()
    #: Custom roles one organisation may define.
    max_custom_roles: int = Field(50, ge=0, le=10_000)
    #: How long an instance keeps an organisation's custom roles before re-reading them (changes
    #: are announced to every instance at once; this bounds a missed announcement).
    cache_ttl: Duration = timedelta(minutes=5)

    @field_validator("roles")
    @classmethod
    def _roles(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for name, permissions in value.items():
            if not ROLE_NAME.fullmatch(name):
                raise ValueError(f"expected role names like member or billing-admin, got {name!r}")
            check_granted(permissions)
        return value

    @field_validator("permissions")
    @classmethod
    def _permissions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return check_required(value)

    @field_validator("guest_permissions")
    @classmethod
    def _guest_permissions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return check_granted(value)

    @field_validator("policy_roles")
    @classmethod
    def _policy_roles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [name for name in value if not ROLE_NAME.fullmatch(name)]
        if bad:
            raise ValueError(f"expected role names like editor or billing-admin, got {bad}")
        return value

    @property
    def known_roles(self) -> frozenset[str]:
        """The role names policies may name: built-in ones and ``policy_roles``."""
        return frozenset(self.roles) | frozenset(self.policy_roles)


class ApiKeySettings(Model):
    #: Keys an organisation may hold at once (neither revoked nor expired).
    max_per_org: int = Field(100, ge=1, le=100_000)
    #: Longest lifetime a key may be given; unset: keys may be created without an expiry.
    max_lifetime: Duration | None = None
    #: Longest grace period of a rotation (the old key keeps working that long).
    max_grace_period: Duration = timedelta(days=7)
    #: Keys kept verified in memory per instance, and for how long before they are read again.
    #: Revocations and membership changes are announced to every instance at once; the TTL only
    #: bounds what a missed announcement could leave behind.
    cache_size: int = Field(10_000, ge=0, le=10_000_000)
    cache_ttl: Duration = timedelta(minutes=1)
    #: How long an unknown key is remembered as unknown (a new key is announced, so it works at
    #: once anyway); spares the database a query per request from a client with a wrong key.
    negative_cache_ttl: Duration = timedelta(seconds=10)
    #: How often last-used times and use counts are written (one statement for all keys).
    usage_flush_interval: Duration = timedelta(seconds=10)


class InvitationSettings(Model):
    #: Lifetime of an invitation link.
    ttl: Duration = timedelta(days=7)
    #: Your page that accepts an invitation, with ``{token}``; unset: rowgate's own small page.
    accept_url: str | None = None
    #: Pending invitations one organisation may have at once.
    max_pending: int = Field(100, ge=1, le=100_000)

    @field_validator("accept_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.match(r"^https?://[^/\s]+", value) or "{token}" not in value:
            raise ValueError(
                "expected an http(s) URL holding {token}, like "
                f"https://app.example.com/join?token={{token}}, got {value!r}"
            )
        return value


class ClaimMapping(Model):
    """Which claims of an external token say who the caller is, in which tenant, with which role.
    Names are top-level claim names taken as they are (Auth0's ``https://example.com/org`` too)."""

    user_id: str = "sub"
    org_id: str | None = "org_id"
    role: str | None = "role"


class ExternalIssuer(Model):
    #: The exact ``iss`` of the tokens (e.g. ``https://securetoken.google.com/<project>``).
    issuer: str = Field(min_length=1, max_length=512)
    #: Where the issuer publishes its signing keys (JWK Set).
    jwks_url: str
    #: Tokens must be meant for one of these (compared with ``audience_claim``).
    audiences: tuple[str, ...] = Field(min_length=1)
    #: The claim holding the audience: ``aud``, or e.g. ``client_id`` for Cognito access tokens.
    audience_claim: str = "aud"
    algorithms: tuple[ExternalAlgorithm, ...] = Field(("RS256",), min_length=1)
    claims: ClaimMapping = ClaimMapping()
    #: The tenant of every token of this issuer when it carries none (an issuer per tenant).
    org_id: str | None = None
    #: The role when the token carries none; unset: no role (the ``user`` group, no permissions).
    default_role: str | None = None
    #: Prepended to the user id, so that ids of several issuers never collide with each other or
    #: with rowgate's own users (e.g. ``auth0:``).
    user_id_prefix: str = Field("", max_length=64)
    #: Claims that must hold exactly these values (e.g. ``token_use: access`` for Cognito).
    required_claims: dict[str, str] = Field(default_factory=dict)
    leeway: Duration = timedelta(seconds=60)
    #: How long fetched keys are used before they are fetched again.
    jwks_cache_ttl: Duration = timedelta(minutes=10)
    #: Least time between two fetches caused by tokens naming an unknown ``kid`` (a rotation).
    jwks_refetch_interval: Duration = timedelta(seconds=30)
    jwks_timeout: Duration = timedelta(seconds=5)

    @field_validator("jwks_url")
    @classmethod
    def _jwks_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"expected an http(s) URL of a JWK Set, got {value!r}")
        return value


def tenancy_problems(
    mode: str,
    own_issuer: str,
    rbac: RbacSettings,
    issuers: tuple[ExternalIssuer, ...],
) -> list[str]:
    """Checks that span keys of the tenancy sections; each as ``key.path: message``."""
    problems = []
    missing = [role for role in rbac.admin_roles if role not in rbac.roles]
    if missing:
        problems.append(f"rbac.admin_roles: {missing} are not roles declared under rbac.roles")
    if not rbac.admin_roles:
        problems.append("rbac.admin_roles: name at least one role (organisations need an admin)")
    builtin = sorted(set(rbac.policy_roles) & set(rbac.roles))
    if builtin:
        problems.append(
            f"rbac.policy_roles: {builtin} are built-in roles (rbac.roles); list custom ones only"
        )
    seen: set[str] = set()
    for index, entry in enumerate(issuers):
        where = f"issuers[{index}]"
        if entry.issuer == own_issuer:
            problems.append(f"{where}.issuer: is rowgate's own issuer; external issuers must differ")
        if entry.issuer in seen:
            problems.append(f"{where}.issuer: {entry.issuer!r} is configured twice")
        seen.add(entry.issuer)
        if entry.default_role is not None and entry.default_role not in rbac.roles:
            problems.append(f"{where}.default_role: {entry.default_role!r} is not a role of rbac.roles")
        if mode == "production" and not entry.jwks_url.startswith("https://"):
            problems.append(
                f"{where}.jwks_url: must be https in production (keys fetched in clear can be forged)"
            )
    return problems
