"""Verifying tokens of external issuers and mapping their claims to rowgate's identity.

The token's unverified ``iss`` is read only to choose the issuer whose keys and rules apply
(``issuer_of``); nothing else is believed before the signature checks out.  Then, in order:

1. size (8 KB at most) and header: ``alg`` must be one of the issuer's configured algorithms
   (asymmetric only, so no HMAC-with-a-public-key confusion), ``kid`` a short string; headers
   that carry or point at keys (``jku``, ``jwk``, ``x5u``, ``x5c``) or mark extensions critical
   (``crit``) are refused;
2. the key named by ``kid`` in the issuer's JWK Set (fetched, cached, refetched on an unknown kid)
   must fit ``alg`` (RSA for RS/PS, the matching curve for ES, Ed25519 for EdDSA);
3. signature, ``iss`` (exact), ``exp`` (required), ``nbf`` and ``iat`` with the issuer's leeway;
4. the audience (``audience_claim``, a string or a list) must name one of ``audiences``, and every
   ``required_claims`` entry must hold exactly;
5. the mapped claims (user id, tenant, role) must be short strings without control characters,
   since they become identity headers.

A token that verified is cached by its text until it expires; the cache of an issuer empties
whenever its key set changes.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt

from rowgate.auth.external.jwks import JwksCache
from rowgate.auth.tokens.jws import check_size
from rowgate.auth.tokens.verify_cache import VerifiedCache
from rowgate.config.tenancy import ExternalIssuer
from rowgate.errors import InvalidToken, TokenExpired

_REFUSED_HEADERS = ("jku", "jwk", "x5u", "x5c", "crit")
MAX_CLAIM_LENGTH = 255
CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class ExternalIdentity:
    issuer: str
    user_id: str
    org_id: str | None
    role: str | None
    token_id: str | None
    expires_at: float


def unverified_issuer(token: str) -> str | None:
    """The ``iss`` a compact JWS claims, unverified (None when there is no readable one)."""
    parts = token.split(".")
    if len(parts) != 3 or len(parts[1]) > 8192:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, RecursionError):
        return None
    issuer = payload.get("iss") if isinstance(payload, dict) else None
    return issuer if isinstance(issuer, str) else None


class IssuerVerifier:
    """Verification for one configured issuer."""

    def __init__(self, settings: ExternalIssuer, http: Callable[[], aiohttp.ClientSession]) -> None:
        self.settings = settings
        self.cache: VerifiedCache[ExternalIdentity] = VerifiedCache(CACHE_SIZE)
        self.jwks = JwksCache(settings, http, on_change=self.cache.clear)
        self._algorithms = frozenset(settings.algorithms)
        self._audiences = frozenset(settings.audiences)

    async def verify(self, token: str) -> ExternalIdentity:
        check_size(token)
        now = time.time()
        cached = self.cache.get(token, now)
        if cached is not None:
            return cached
        header = _header(token)
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise InvalidToken("The token's algorithm (alg) is not one its issuer is configured with.")
        if not isinstance(kid, str) or not 0 < len(kid) <= 256:
            raise InvalidToken("The token's header must name its signing key (kid).")
        key = await self.jwks.key(kid, alg)
        payload = self._decode(token, key.key, alg)
        identity = self._identity(payload)
        self.cache.put(token, identity, identity.expires_at + self.settings.leeway.total_seconds())
        return identity

    def _decode(self, token: str, key: Any, alg: str) -> dict[str, Any]:
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                issuer=self.settings.issuer,
                leeway=self.settings.leeway,
                options={"require": ["exp", "iss"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise TokenExpired("The token has expired: get a new one from its issuer.") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise InvalidToken("The token is not valid for this issuer (signature or claims).") from None
        return payload

    def _identity(self, payload: Mapping[str, Any]) -> ExternalIdentity:
        settings = self.settings
        audience = payload.get(settings.audience_claim)
        offered = (
            {audience}
            if isinstance(audience, str)
            else set(audience)
            if isinstance(audience, list)
            else set()
        )
        if not offered & self._audiences:
            raise InvalidToken("The token is meant for another audience.")
        for name, value in settings.required_claims.items():
            if payload.get(name) != value:
                raise InvalidToken(f"The token's '{name}' claim does not hold the value required.")
        mapping = settings.claims
        user_id = _claim(payload, mapping.user_id, required=True)
        org_id = _claim(payload, mapping.org_id) or settings.org_id
        role = _claim(payload, mapping.role) or settings.default_role
        jti = payload.get("jti")
        return ExternalIdentity(
            issuer=settings.issuer,
            user_id=settings.user_id_prefix + str(user_id),
            org_id=org_id,
            role=role,
            token_id=jti if isinstance(jti, str) and len(jti) <= MAX_CLAIM_LENGTH else None,
            expires_at=float(payload["exp"]),
        )


def _header(token: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except (jwt.PyJWTError, ValueError, TypeError, RecursionError):
        raise InvalidToken("The token's header is not readable.") from None
    for name in _REFUSED_HEADERS:
        if name in header:
            raise InvalidToken(f"The token's header carries '{name}', which rowgate refuses.")
    return header


def _claim(payload: Mapping[str, Any], name: str | None, *, required: bool = False) -> str | None:
    value = None if name is None else payload.get(name)
    if value is None:
        if required:
            raise InvalidToken(f"The token has no '{name}' claim to identify the caller.")
        return None
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= MAX_CLAIM_LENGTH
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)
    ):
        raise InvalidToken(f"The token's '{name}' claim must be a short string without control characters.")
    return value


class ExternalIssuers:
    """Every configured issuer, by its ``iss``; one HTTP session shared for their key sets."""

    def __init__(self, issuers: tuple[ExternalIssuer, ...]) -> None:
        self._session: aiohttp.ClientSession | None = None
        self.by_issuer = {entry.issuer: IssuerVerifier(entry, self._http) for entry in issuers}

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                cookie_jar=aiohttp.DummyCookieJar(), headers={"User-Agent": "rowgate"}
            )
        return self._session

    def __bool__(self) -> bool:
        return bool(self.by_issuer)

    def issuer_of(self, token: str) -> IssuerVerifier | None:
        """The verifier of the issuer ``token`` claims to come from, if that one is configured."""
        claimed = unverified_issuer(token)
        return None if claimed is None else self.by_issuer.get(claimed)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
