"""Any OpenID Connect provider: endpoints from its discovery document, the user from its ID token.

The ID token is verified with PyJWT against the provider's published keys (``JwksCache``, as
external issuers' tokens are): the signature with an algorithm from the settings (never from the
token), ``iss`` equal to the issuer the discovery document names (which must itself be the
discovery URL's issuer, OpenID Connect Discovery section 4.3), ``aud`` holding the client id
(and ``azp`` naming it when there are several audiences), ``exp`` and ``iat`` present and current,
and ``nonce`` equal to the one this attempt sent.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import aiohttp
import jwt

from rowgate.auth.external.jwks import JwksCache
from rowgate.auth.social.providers import (
    TIMEOUT,
    Attempt,
    Http,
    ProviderFailed,
    ProviderIdentity,
    authorize_url,
    optional_text,
    read_json,
    text,
)
from rowgate.config.social import ProviderSettings
from rowgate.config.tenancy import ExternalIssuer
from rowgate.errors import InvalidToken, UpstreamError

WELL_KNOWN = "/.well-known/openid-configuration"
LEEWAY = 60


@dataclass(frozen=True, slots=True)
class Endpoints:
    issuer: str
    authorization: str
    token: str
    keys: JwksCache


class OidcProvider:
    def __init__(self, name: str, settings: ProviderSettings, secret: str, http: Http) -> None:
        self.name = name
        self.settings = settings
        self._secret = secret
        self._http = http
        self._endpoints: Endpoints | None = None
        self._lock = asyncio.Lock()

    async def authorize_url(self, attempt: Attempt, state: str, challenge: str) -> str:
        endpoints = await self.endpoints()
        params = {
            "response_type": "code",
            "client_id": self.settings.client_id,
            "redirect_uri": attempt.redirect_uri,
            "scope": " ".join(self.settings.scopes),
            "state": state,
            "nonce": attempt.nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return authorize_url(endpoints.authorization, params)

    async def identify(self, code: str, attempt: Attempt) -> ProviderIdentity:
        endpoints = await self.endpoints()
        answer = await self._redeem(endpoints, code, attempt)
        claims = await verify_id_token(
            text(answer, "id_token", "token answer"), endpoints, self.settings, attempt.nonce
        )
        return ProviderIdentity(
            subject=str(claims["sub"]),
            email=optional_text(claims, "email"),
            email_verified=claims.get("email_verified") is True,
            name=optional_text(claims, "name"),
        )

    async def endpoints(self) -> Endpoints:
        """The provider's endpoints, read from its discovery document once."""
        async with self._lock:
            if self._endpoints is None:
                self._endpoints = await self._discover()
            return self._endpoints

    async def _discover(self) -> Endpoints:
        url = self.settings.discovery() or ""
        try:
            async with self._http().get(url, timeout=TIMEOUT, allow_redirects=False) as response:
                document = await read_json(response, "discovery")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProviderFailed(
                f"The provider {self.name} could not be reached ({type(exc).__name__})."
            ) from None
        if not isinstance(document, dict):
            raise ProviderFailed("The provider's discovery document is not an object.")
        issuer = text(document, "issuer", "discovery document")
        if url != issuer.rstrip("/") + WELL_KNOWN:
            raise UpstreamError(
                f"The provider {self.name}'s discovery document names another issuer.", code="issuer_mismatch"
            )
        keys = ExternalIssuer(
            issuer=issuer,
            jwks_url=text(document, "jwks_uri", "discovery document"),
            audiences=(self.settings.client_id,),
            algorithms=self.settings.algorithms,
        )
        return Endpoints(
            issuer=issuer,
            authorization=text(document, "authorization_endpoint", "discovery document"),
            token=text(document, "token_endpoint", "discovery document"),
            keys=JwksCache(keys, self._http),
        )

    async def _redeem(self, endpoints: Endpoints, code: str, attempt: Attempt) -> dict[str, Any]:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": attempt.redirect_uri,
            "code_verifier": attempt.verifier,
        }
        headers = {
            "Authorization": basic_auth(self.settings.client_id, self._secret),
            "Accept": "application/json",
        }
        try:
            async with self._http().post(
                endpoints.token, data=form, headers=headers, timeout=TIMEOUT, allow_redirects=False
            ) as response:
                answer = await read_json(response, "token")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProviderFailed(
                f"The provider {self.name} could not be reached ({type(exc).__name__})."
            ) from None
        if not isinstance(answer, dict):
            raise ProviderFailed("The provider's token answer is not an object.")
        return answer


async def verify_id_token(
    token: str, endpoints: Endpoints, settings: ProviderSettings, nonce: str
) -> dict[str, Any]:
    """The claims of a valid ID token for this attempt; 401 ``invalid_id_token`` otherwise."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise _refused("The provider's ID token is malformed.") from None
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in settings.algorithms or not isinstance(kid, str):
        raise _refused("The provider's ID token is signed with an algorithm not allowed here.")
    try:
        key = await endpoints.keys.key(kid, alg)
    except InvalidToken as exc:
        raise _refused(exc.detail) from None
    claims = _decode(token, key.key, alg, endpoints.issuer, settings.client_id)
    if not isinstance(claims.get("nonce"), str) or not hmac.compare_digest(claims["nonce"], nonce):
        raise _refused("The provider's ID token was not issued for this sign-in (nonce).")
    return claims


def _decode(token: str, key: Any, alg: str, issuer: str, client_id: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[alg],
            audience=client_id,
            issuer=issuer,
            leeway=LEEWAY,
            options={"require": ["iss", "aud", "exp", "iat", "sub"]},
        )
    except jwt.PyJWTError as exc:
        raise _refused(f"The provider's ID token is not valid ({type(exc).__name__}).") from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise _refused("The provider's ID token is meant for another party (azp).")
    if not isinstance(claims["sub"], str) or not 0 < len(claims["sub"]) <= 255:
        raise _refused("The provider's ID token has no usable subject.")
    return claims


def basic_auth(client_id: str, secret: str) -> str:
    """``client_secret_basic`` (RFC 6749 section 2.3.1: each part form-encoded first)."""
    pair = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def _refused(detail: str) -> InvalidToken:
    return InvalidToken(detail, code="invalid_id_token")
