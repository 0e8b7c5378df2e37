"""GitHub's OAuth 2.0 (it has no OpenID Connect): the user from ``GET /user``, the address from
``GET /user/emails`` (the primary one, and whether GitHub verified it).

GitHub supports PKCE (S256) and ``state``; there is no ID token, so no nonce: the code is bound
to the attempt by the verifier.  The base URLs are settings, so tests point them at a stand-in.
"""

from __future__ import annotations

from typing import Any

import aiohttp

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

API_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


class GitHubProvider:
    def __init__(self, name: str, settings: ProviderSettings, secret: str, http: Http) -> None:
        self.name = name
        self.settings = settings
        self._secret = secret
        self._http = http

    async def authorize_url(self, attempt: Attempt, state: str, challenge: str) -> str:
        params = {
            "client_id": self.settings.client_id,
            "redirect_uri": attempt.redirect_uri,
            "scope": "read:user user:email",
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "allow_signup": "true",
        }
        return authorize_url(self.settings.authorize_url, params)

    async def identify(self, code: str, attempt: Attempt) -> ProviderIdentity:
        try:
            access = await self._access_token(code, attempt)
            user = await self._get("/user", access)
            emails = await self._get("/user/emails", access)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProviderFailed(
                f"The provider {self.name} could not be reached ({type(exc).__name__})."
            ) from None
        if not isinstance(user, dict) or not isinstance(user.get("id"), int) or isinstance(user["id"], bool):
            raise ProviderFailed("The provider's user answer lacks an id.")
        email, verified = primary_email(emails)
        return ProviderIdentity(str(user["id"]), email, verified, optional_text(user, "name"))

    async def _access_token(self, code: str, attempt: Attempt) -> str:
        form = {
            "client_id": self.settings.client_id,
            "client_secret": self._secret,
            "code": code,
            "redirect_uri": attempt.redirect_uri,
            "code_verifier": attempt.verifier,
        }
        headers = {"Accept": "application/json"}
        async with self._http().post(
            self.settings.token_url, data=form, headers=headers, timeout=TIMEOUT, allow_redirects=False
        ) as response:
            answer = await read_json(response, "token")
        if not isinstance(answer, dict) or "error" in answer:
            raise ProviderFailed("The provider refused the code.")
        return text(answer, "access_token", "token answer")

    async def _get(self, path: str, access: str) -> Any:
        headers = {**API_HEADERS, "Authorization": f"Bearer {access}"}
        url = self.settings.api_url.rstrip("/") + path
        async with self._http().get(url, headers=headers, timeout=TIMEOUT, allow_redirects=False) as response:
            return await read_json(response, path)


def primary_email(emails: Any) -> tuple[str | None, bool]:
    """The primary address and whether GitHub verified it (None when there is none)."""
    if not isinstance(emails, list):
        raise ProviderFailed("The provider's email answer is not a list.")
    for entry in emails:
        if isinstance(entry, dict) and entry.get("primary") is True:
            return optional_text(entry, "email"), entry.get("verified") is True
    return None, False
