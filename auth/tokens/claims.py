"""The claims layer (RFC 7519): building the payloads rowgate signs, and checking access tokens.

Access tokens follow RFC 9068 (``typ: at+jwt``; ``iss``, ``aud``, ``sub``, ``client_id``, ``jti``,
``iat``, ``exp``) with rowgate's own claims (``sid``, ``org_id``, ``role``, ``amr``).  ID tokens
follow OpenID Connect Core section 2.

``validate_access`` runs one small ``_validate_<claim>`` per claim, each refusing with
``InvalidToken`` (``TokenExpired`` for ``exp``) and a message for the developer that never repeats
the token.  Only a payload whose signature was verified ever reaches it.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from rowgate.errors import InvalidToken, TokenExpired

ACCESS_TYP: Final = "at+jwt"
ACCESS_TYPES: Final = frozenset({"at+jwt", "application/at+jwt"})
ID_TYP: Final = "JWT"
#: Claims rowgate sets itself; callers' extras may not override them.
RESERVED: Final = frozenset(
    {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", "sid", "org_id", "role", "amr"}
    | {"auth_time", "nonce", "azp", "email", "email_verified", "name", "cnf", "act"}
)
_REQUIRED_STRINGS: Final = ("iss", "aud", "sub", "sid", "jti", "client_id")
_NUMERIC_DATES: Final = ("exp", "nbf", "iat")
_OPTIONAL_STRINGS: Final = ("org_id", "role", "scope")
_KNOWN: Final = frozenset(
    _REQUIRED_STRINGS + _NUMERIC_DATES + _OPTIONAL_STRINGS + ("amr", "perms", "auth_time")
)


@dataclass(frozen=True, slots=True)
class Expected:
    """What every access token must say: our issuer and audience; the clock tolerance in seconds."""

    issuer: str
    audience: str
    leeway: float


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """The verified claims of an access token, typed."""

    iss: str
    aud: str
    sub: str
    sid: str
    jti: str
    client_id: str
    iat: int
    nbf: int
    exp: int
    amr: tuple[str, ...]
    org_id: str | None = None
    role: str | None = None
    scope: str | None = None
    perms: tuple[str, ...] = ()
    #: When the user last proved who they are (RFC 9068 section 2.2.1; a second factor counts).
    auth_time: int | None = None
    #: Any other claims the issuer added, read-only.
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def scopes(self) -> frozenset[str]:
        """``scope`` split into its space-separated values."""
        return frozenset(self.scope.split()) if self.scope else frozenset()


def new_jti() -> str:
    """A random token id."""
    return secrets.token_urlsafe(16)


def check_extras(extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """``extra`` as a dict; ValueError if it tries to set a claim rowgate sets itself."""
    extras = dict(extra or {})
    clash = sorted(RESERVED & extras.keys())
    if clash:
        raise ValueError(f"extra claims may not set {clash}: rowgate sets them itself")
    return extras


def validate_access(payload: Mapping[str, Any], expected: Expected, now: float) -> AccessClaims:
    """The typed claims of a verified access token's ``payload``, or InvalidToken/TokenExpired."""
    _validate_required(payload)
    _validate_iss(payload, expected)
    _validate_aud(payload, expected)
    _validate_exp(payload, now, expected.leeway)
    _validate_nbf(payload, now, expected.leeway)
    _validate_iat(payload, now, expected.leeway)
    _validate_optional(payload)
    return AccessClaims(
        iss=payload["iss"],
        aud=payload["aud"],
        sub=payload["sub"],
        sid=payload["sid"],
        jti=payload["jti"],
        client_id=payload["client_id"],
        iat=payload["iat"],
        nbf=payload["nbf"],
        exp=payload["exp"],
        amr=_validate_amr(payload),
        org_id=payload.get("org_id"),
        role=payload.get("role"),
        scope=payload.get("scope"),
        perms=_validate_perms(payload),
        auth_time=_validate_auth_time(payload),
        extra=MappingProxyType({k: v for k, v in payload.items() if k not in _KNOWN}),
    )


def _validate_required(payload: Mapping[str, Any]) -> None:
    for name in _REQUIRED_STRINGS:
        value = payload.get(name)
        if not isinstance(value, str) or not value:
            raise InvalidToken(f"The token's '{name}' claim is missing or not a non-empty string.")
    for name in _NUMERIC_DATES:
        if not _is_int(payload.get(name)):
            raise InvalidToken(f"The token's '{name}' claim is missing or not a whole number of seconds.")


def _validate_iss(payload: Mapping[str, Any], expected: Expected) -> None:
    if payload["iss"] != expected.issuer:
        raise InvalidToken("The token was issued by another issuer (iss).")


def _validate_aud(payload: Mapping[str, Any], expected: Expected) -> None:
    if payload["aud"] != expected.audience:
        raise InvalidToken("The token is meant for another audience (aud).")


def _validate_exp(payload: Mapping[str, Any], now: float, leeway: float) -> None:
    if payload["exp"] + leeway <= now:
        raise TokenExpired("The access token has expired: refresh it.")


def _validate_nbf(payload: Mapping[str, Any], now: float, leeway: float) -> None:
    if payload["nbf"] - leeway > now:
        raise InvalidToken("The token is not valid yet (nbf): check the clocks of the servers.")


def _validate_iat(payload: Mapping[str, Any], now: float, leeway: float) -> None:
    if payload["iat"] - leeway > now:
        raise InvalidToken("The token was issued in the future (iat): check the clocks of the servers.")


def _validate_optional(payload: Mapping[str, Any]) -> None:
    for name in _OPTIONAL_STRINGS:
        value = payload.get(name)
        if value is not None and not isinstance(value, str):
            raise InvalidToken(f"The token's '{name}' claim must be a string.")


def _validate_amr(payload: Mapping[str, Any]) -> tuple[str, ...]:
    return _string_list(payload, "amr", required=True)


def _validate_auth_time(payload: Mapping[str, Any]) -> int | None:
    value = payload.get("auth_time")
    if value is not None and not _is_int(value):
        raise InvalidToken("The token's 'auth_time' claim must be a whole number of seconds.")
    return value


def _validate_perms(payload: Mapping[str, Any]) -> tuple[str, ...]:
    return _string_list(payload, "perms", required=False)


def _string_list(payload: Mapping[str, Any], name: str, *, required: bool) -> tuple[str, ...]:
    value = payload.get(name)
    if value is None and not required:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidToken(f"The token's '{name}' claim must be a list of strings.")
    return tuple(value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def access_payload(
    *,
    expected: Expected,
    sub: str,
    sid: str,
    client_id: str,
    amr: Sequence[str],
    org_id: str | None,
    role: str | None,
    now: int,
    ttl: int,
    extra: Mapping[str, Any] | None = None,
    auth_time: int | None = None,
) -> dict[str, Any]:
    """The claims of a new access token (``extra`` adds e.g. ``scope`` or ``perms``)."""
    payload: dict[str, Any] = {
        "iss": expected.issuer,
        "aud": expected.audience,
        "sub": sub,
        "client_id": client_id,
        "sid": sid,
        "jti": new_jti(),
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "amr": list(amr),
    }
    if org_id is not None:
        payload["org_id"] = org_id
    if role is not None:
        payload["role"] = role
    if auth_time is not None:
        payload["auth_time"] = auth_time
    return payload | check_extras(extra)


def id_payload(
    *,
    issuer: str,
    audience: str,
    sub: str,
    sid: str,
    email: str,
    email_verified: bool,
    name: str | None,
    auth_time: int,
    nonce: str | None,
    now: int,
    ttl: int,
) -> dict[str, Any]:
    """The claims of a new OpenID Connect ID token for the client ``audience``."""
    payload: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": sub,
        "sid": sid,
        "email": email,
        "email_verified": email_verified,
        "auth_time": auth_time,
        "iat": now,
        "exp": now + ttl,
    }
    if name is not None:
        payload["name"] = name
    if nonce is not None:
        payload["nonce"] = nonce
    return payload
