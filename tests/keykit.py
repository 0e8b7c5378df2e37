"""Keys, settings and a token forge shared by the token tests.

Each algorithm's key is generated once per test run (RSA-3072 takes a moment).  ``forge`` builds a
compact JWS from any header and payload with any signature, so that the attack tests can craft
exactly the token they describe; ``valid_claims`` is the payload of a token that verifies.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable, Mapping
from typing import Any

from rowgate.auth.tokens.keys import ALGORITHMS, KeyRing, SigningKey, generate_key
from rowgate.auth.tokens.service import TokenService
from rowgate.config.schema import ServerSettings, Settings, TokenSettings

NOW = 1_800_000_000
ISSUER = "https://auth.example.test"
AUDIENCE = "rowgate"
DELETE = object()  # a claim or header value meaning "leave this member out"


@functools.cache
def key(algorithm: str, name: str = "") -> SigningKey:
    """A key for ``algorithm``, the same one for every call with the same ``name``."""
    return generate_key(algorithm)


def all_keys() -> list[SigningKey]:
    return [key(algorithm) for algorithm in ALGORITHMS]


def settings(**tokens: Any) -> Settings:
    return Settings(
        server=ServerSettings(public_url=ISSUER),
        tokens=TokenSettings(audience=AUDIENCE, **tokens),
    )


def service(ring: KeyRing, *, clock: Callable[[], float] | None = None, **tokens: Any) -> TokenService:
    """A TokenService on ``ring`` whose clock reads ``NOW`` unless told otherwise."""
    return TokenService(settings(**tokens), ring, clock=clock or (lambda: NOW))


def valid_claims(**overrides: Any) -> dict[str, Any]:
    """The payload of a valid access token at ``NOW``; ``name=DELETE`` leaves a claim out."""
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "client_id": "rowgate",
        "sid": "session-1",
        "jti": "jti-1",
        "iat": NOW - 10,
        "nbf": NOW - 10,
        "exp": NOW + 600,
        "amr": ["pwd"],
        "org_id": "org-1",
        "role": "admin",
    }
    return _apply(claims, overrides)


def header_for(signer: SigningKey, **overrides: Any) -> dict[str, Any]:
    return _apply({"alg": signer.algorithm, "kid": signer.kid, "typ": "at+jwt"}, overrides)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(value: Mapping[str, Any]) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def forge(
    payload: Mapping[str, Any] | None = None,
    *,
    header: Mapping[str, Any] | None = None,
    signer: SigningKey | None = None,
    sign: Callable[[bytes], bytes] | None = None,
) -> str:
    """A compact JWS: ``header`` (default: ``signer``'s), ``payload`` (default: valid claims),
    signed by ``sign`` (default: ``signer``, itself by default the EdDSA test key)."""
    signer = signer or key("EdDSA")
    signing_input = f"{b64json(header or header_for(signer))}.{b64json(payload or valid_claims())}"
    signature = (sign or signer.sign)(signing_input.encode())
    return f"{signing_input}.{b64(signature)}"


def _apply(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = {**base, **overrides}
    return {name: value for name, value in merged.items() if value is not DELETE}
