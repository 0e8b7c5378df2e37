"""The OpenID Provider metadata document (``/.well-known/openid-configuration``).

rowgate is not a full OAuth 2.0 authorization server (it has no authorization endpoint: clients sign
in through its JSON API).  The document exists so that standard JWT and OIDC libraries can discover
the issuer, the JWKS and the algorithm without configuration.  The proxy serves it, and
``KeyRing.jwks()`` at ``/.well-known/jwks.json``, with the ``Cache-Control`` values below: short,
so that relying parties see a rotated key within minutes.
"""

from __future__ import annotations

from typing import Any, Final

from rowgate.config.schema import Settings

JWKS_PATH: Final = "/.well-known/jwks.json"
DISCOVERY_CACHE_CONTROL: Final = "public, max-age=3600"
JWKS_CACHE_CONTROL: Final = "public, max-age=300"

CLAIMS_SUPPORTED: Final = (
    "iss", "sub", "aud", "exp", "iat", "nbf", "jti", "auth_time", "nonce", "sid", "amr",
    "client_id", "org_id", "role", "scope", "perms", "email", "email_verified", "name",
)  # fmt: skip


def openid_configuration(settings: Settings) -> dict[str, Any]:
    """The discovery document for ``settings``: issuer, key set, endpoints and algorithms."""
    base = settings.public_url
    auth = base + settings.mounts.auth
    algorithm = settings.tokens.algorithm
    return {
        "issuer": settings.issuer,
        "jwks_uri": base + JWKS_PATH,
        "token_endpoint": auth + "/refresh",
        "userinfo_endpoint": auth + "/me",
        "end_session_endpoint": auth + "/signout",
        "grant_types_supported": ["refresh_token"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [algorithm],
        "token_endpoint_auth_methods_supported": ["none"],
        "scopes_supported": ["openid", "email", "profile"],
        "claims_supported": list(CLAIMS_SUPPORTED),
    }
