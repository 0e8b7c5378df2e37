"""Settings of passwordless and social sign-in: magic links (``auth.magic_link``), the application
URLs a sign-in may return to (``auth.callback_urls``), and the providers (``auth.providers``).

A provider is any OpenID Connect provider found by its discovery URL (``kind: oidc``; ``preset:
google`` fills in Google's), or GitHub's OAuth 2.0 (``kind: github``, base URLs overridable).  A
client secret is never written in the file: ``client_secret_env`` names the environment variable
that holds it.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from rowgate.config.model import Model
from rowgate.config.tenancy import ExternalAlgorithm
from rowgate.config.units import Duration

#: A provider's name, which is also a path segment: ``/v1/auth/<name>/authorize``.
PROVIDER_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
#: Path segments of the auth mount that a provider may not take.
RESERVED_NAMES = frozenset(
    {"email", "password", "token", "accounts", "mfa", "sessions", "me", "orgs", "invitations", "withdraw"}
)
GOOGLE_DISCOVERY = "https://accounts.google.com/.well-known/openid-configuration"
ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,99}$")


class MagicLinkSettings(Model):
    enabled: bool = True
    ttl: Duration = timedelta(minutes=15)
    #: Whether a link to an address without an account creates one.
    allow_signup: bool = False


class ProviderSettings(Model):
    kind: Literal["oidc", "github"] = "oidc"
    preset: Literal["google"] | None = None
    discovery_url: str | None = None
    client_id: str = Field(min_length=1, max_length=500)
    client_secret_env: str
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    #: The ID token algorithms accepted (from here, never from the token).
    algorithms: tuple[ExternalAlgorithm, ...] = Field(("RS256",), min_length=1)
    #: GitHub only: where its authorize and token endpoints and its REST API live.
    authorize_url: str = "https://github.com/login/oauth/authorize"
    token_url: str = "https://github.com/login/oauth/access_token"  # noqa: S105 (a URL)
    api_url: str = "https://api.github.com"

    @field_validator("client_secret_env")
    @classmethod
    def _env(cls, value: str) -> str:
        if not ENV_NAME.fullmatch(value):
            raise ValueError(
                f"expected the name of an environment variable like GOOGLE_CLIENT_SECRET, got {value!r}"
            )
        return value

    def discovery(self) -> str | None:
        """The discovery document's URL (the preset's when none is given)."""
        if self.discovery_url:
            return self.discovery_url
        return GOOGLE_DISCOVERY if self.preset == "google" else None


def is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not parts.fragment


def social_problems(
    callback_urls: tuple[str, ...], providers: dict[str, ProviderSettings], mode: str
) -> list[str]:
    """Checks across the keys; each problem as ``key.path: message``."""
    problems = [
        f"auth.callback_urls: expected http(s) URLs without a fragment, got {url!r}"
        for url in callback_urls
        if not is_http_url(url)
    ]
    for name, provider in providers.items():
        key = f"auth.providers.{name}"
        if not PROVIDER_NAME.fullmatch(name) or name in RESERVED_NAMES:
            problems.append(
                f"{key}: a name of lower-case letters, digits and -, not one of {sorted(RESERVED_NAMES)}"
            )
        problems.extend(_provider_problems(key, provider, mode))
    return problems


def _provider_problems(key: str, provider: ProviderSettings, mode: str) -> list[str]:
    problems = []
    if provider.kind == "oidc" and provider.discovery() is None:
        problems.append(f"{key}.discovery_url: required for an OpenID Connect provider (or preset: google)")
    if provider.kind == "oidc" and "openid" not in provider.scopes:
        problems.append(f"{key}.scopes: an OpenID Connect provider needs the openid scope")
    if provider.kind == "github" and provider.preset is not None:
        problems.append(f"{key}.preset: presets are for OpenID Connect providers")
    urls = [provider.discovery() or "", provider.authorize_url, provider.token_url, provider.api_url]
    if mode == "production" and any(u.startswith("http://") for u in urls):
        problems.append(f"{key}: provider URLs must be https in production")
    return problems
