"""The providers a user may sign in with, and what each answers about the user.

A provider turns an authorization code into a ``ProviderIdentity``: who the user is there
(``subject``), and the address it asserts, with whether it verified it.  ``OidcProvider`` reads
its endpoints from the discovery document and the identity from the verified ID token;
``GitHubProvider`` reads the user and the verified addresses from GitHub's REST API.

Everything a provider sends is untrusted input: bodies are bounded, parsed strictly, and every
failure is a 502 ``provider_failed``, never a 500.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

import aiohttp

from rowgate.config.social import ProviderSettings
from rowgate.errors import ConfigError, UpstreamError

MAX_BODY = 256 * 1024
TIMEOUT = aiohttp.ClientTimeout(total=10)


def ProviderFailed(detail: str) -> UpstreamError:
    """The provider could not be reached, or answered something unusable (502 ``provider_failed``)."""
    return UpstreamError(detail, code="provider_failed")


@dataclass(frozen=True, slots=True)
class ProviderIdentity:
    subject: str
    email: str | None
    email_verified: bool
    name: str | None


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one sign-in attempt keeps between the redirect and the callback."""

    redirect_uri: str
    verifier: str
    nonce: str


class Provider(Protocol):
    name: str
    settings: ProviderSettings

    async def authorize_url(self, attempt: Attempt, state: str, challenge: str) -> str: ...

    async def identify(self, code: str, attempt: Attempt) -> ProviderIdentity: ...


Http = Callable[[], aiohttp.ClientSession]


def client_secret(name: str, settings: ProviderSettings, environ: Mapping[str, str] | None = None) -> str:
    """The client secret from the environment variable the settings name (never from the file)."""
    value = (os.environ if environ is None else environ).get(settings.client_secret_env, "")
    if not value:
        raise ConfigError(
            [f"auth.providers.{name}.client_secret_env: {settings.client_secret_env} is not set"]
        )
    return value


def authorize_url(base: str, params: Mapping[str, str]) -> str:
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}{urlencode(params)}"


async def read_json(response: aiohttp.ClientResponse, what: str) -> Any:
    """The JSON body of a provider's answer (bounded); ProviderFailed for anything else."""
    if response.status != 200:
        raise ProviderFailed(f"The provider refused the {what} request (status {response.status}).")
    body = await response.content.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise ProviderFailed(f"The provider's {what} answer is too large.")
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise ProviderFailed(f"The provider's {what} answer is not JSON.") from None


def text(document: Mapping[str, Any], key: str, what: str) -> str:
    value = document.get(key)
    if not isinstance(value, str) or not value or len(value) > 4096:
        raise ProviderFailed(f"The provider's {what} lacks {key}.")
    return value


def optional_text(document: Mapping[str, Any], key: str) -> str | None:
    value = document.get(key)
    return value if isinstance(value, str) and 0 < len(value) <= 320 else None
