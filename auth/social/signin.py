"""The authorization code flow with PKCE, ``state`` and ``nonce``, from rowgate's side.

``start`` keeps the attempt (provider, PKCE verifier, nonce, the application's callback URL, a
digest of the browser binding) under the digest of a fresh ``state`` for ten minutes, and answers
the provider's authorize URL and the binding, which the HTTP layer sets as a cookie for the
callback path only.  ``finish`` uses the state once (a replayed or made-up state finds nothing),
checks that the same browser came back (the cookie: a callback URL carrying someone else's code
cannot sign a victim in to the attacker's account, which is OAuth login CSRF), has the provider
redeem the code, and answers where to send the browser: the application's callback with a
single-use exchange code (``auth.flows.exchange``), ``?linked=<provider>`` after an explicit
link, or ``?error=<code>`` when the sign-in failed (``link_required``,
``provider_email_unverified``, ``invalid_id_token``, ``provider_failed``, ``provider_refused``).

Explicit linking starts from ``POST /accounts`` by a signed-in user: a single-use link intent
names the user, and ``start`` turns it into an attempt that links instead of signing in.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import timedelta

import aiohttp

from rowgate.auth.audit import ClientContext
from rowgate.auth.flows.exchange import allowed_callback, checked_challenge, issue_code, with_params
from rowgate.auth.flows.identity import Identity, plausible_token
from rowgate.auth.repo import one_time_tokens
from rowgate.auth.repo.one_time_tokens import OneTimeToken
from rowgate.auth.social import linking
from rowgate.auth.social.github import GitHubProvider
from rowgate.auth.social.oidc import OidcProvider
from rowgate.auth.social.providers import Attempt, Provider, client_secret
from rowgate.auth.tokens.opaque import digest, new_token
from rowgate.errors import BadRequest, NotFound, RowgateError

log = logging.getLogger("rowgate.social")

STATE = "oauth_state"
LINK_INTENT = "link_intent"
ATTEMPT_TTL = timedelta(minutes=10)
INVALID_STATE = "This sign-in attempt is unknown, used, expired or from another browser; start again."


@dataclass(frozen=True, slots=True)
class Started:
    #: Where to send the browser: the provider's authorize endpoint.
    url: str
    #: The value of the cookie that binds the attempt to this browser.
    binding: str


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class SocialSignin:
    def __init__(self, ident: Identity, providers: Mapping[str, Provider]) -> None:
        self._ident = ident
        self._providers = providers

    @property
    def names(self) -> list[str]:
        return sorted(self._providers)

    def provider(self, name: str) -> Provider:
        found = self._providers.get(name)
        if found is None:
            raise NotFound(f"No sign-in provider is called {name!r}.", code="unknown_provider")
        return found

    def redirect_uri(self, name: str) -> str:
        settings = self._ident.settings
        return f"{settings.public_url}{settings.mounts.auth}/{name}/callback"

    async def link_intent(self, user_id: str, name: str, callback_url: str) -> str:
        """A single-use token that starts linking ``name`` to the user (at ``/<name>/authorize``)."""
        self.provider(name)
        callback = allowed_callback(self._ident, callback_url)
        token = new_token()
        async with self._ident.db.transaction() as conn:
            await one_time_tokens.create(
                conn,
                purpose=LINK_INTENT,
                digest=digest(token),
                email="",
                lifetime=ATTEMPT_TTL,
                user_id=user_id,
                data={"provider": name, "callbackUrl": callback},
            )
        return token

    async def start(
        self, name: str, callback_url: str | None, challenge: str | None, link_token: str | None
    ) -> Started:
        provider = self.provider(name)
        user_id, callback = await self._target(name, callback_url, link_token)
        attempt = Attempt(self.redirect_uri(name), verifier=new_token(), nonce=new_token())
        state, binding = new_token(), new_token()
        url = await provider.authorize_url(attempt, state, s256(attempt.verifier))
        data = {
            "provider": name,
            "verifier": attempt.verifier,
            "nonce": attempt.nonce,
            "callbackUrl": callback,
            "challenge": checked_challenge(challenge),
            "binding": digest(binding).hex(),
        }
        async with self._ident.db.transaction() as conn:
            await one_time_tokens.create(
                conn,
                purpose=STATE,
                digest=digest(state),
                email="",
                lifetime=ATTEMPT_TTL,
                user_id=user_id,
                data=data,
            )
        return Started(url, binding)

    async def _target(
        self, name: str, callback_url: str | None, link_token: str | None
    ) -> tuple[str | None, str]:
        """Who is linking (None: a sign-in) and the application URL to return to."""
        if link_token is None:
            return None, allowed_callback(self._ident, callback_url or "")
        found = await self._use(LINK_INTENT, link_token)
        if found is None or found.user_id is None or found.data.get("provider") != name:
            raise BadRequest(
                "This link request is unknown, used or expired; start again.", code="invalid_link_token"
            )
        return found.user_id, str(found.data["callbackUrl"])

    async def finish(
        self, name: str, state: str, code: str | None, binding: str, client: ClientContext
    ) -> str:
        """Redeem the provider's code (None: the provider answered with an error); the URL to send
        the browser to.  Once the attempt is known, a failure goes back to the application as
        ``?error=<code>`` (its callback URL is trusted); an unknown attempt is a 400."""
        provider = self.provider(name)
        found = await self._use(STATE, state)
        if found is None or found.data.get("provider") != name or not _same_browser(found, binding):
            raise BadRequest(INVALID_STATE, code="invalid_state")
        callback = str(found.data["callbackUrl"])
        try:
            return await self._complete(provider, found, code, client)
        except RowgateError as error:
            log.info("sign-in with %s failed: %s", name, error.code)
            return with_params(callback, error=error.code)

    async def _complete(
        self, provider: Provider, found: OneTimeToken, code: str | None, client: ClientContext
    ) -> str:
        if code is None:
            raise BadRequest("The provider did not sign the user in.", code="provider_refused")
        if not plausible_token(code):
            raise BadRequest("The provider sent no usable code.", code="invalid_code")
        name = provider.name
        attempt = Attempt(self.redirect_uri(name), str(found.data["verifier"]), str(found.data["nonce"]))
        identity = await provider.identify(code, attempt)
        callback = str(found.data["callbackUrl"])
        async with self._ident.db.transaction() as conn:
            if found.user_id is not None:
                await linking.link_explicitly(conn, found.user_id, name, identity, client)
                return with_params(callback, linked=name)
            user = await linking.account_for(conn, name, identity, client)
            challenge = found.data.get("challenge")
            exchange_code = await issue_code(self._ident, conn, user.id, user.email, name, challenge)
        return with_params(callback, code=exchange_code)

    async def _use(self, purpose: str, token: str) -> OneTimeToken | None:
        """Use up a single-use token in its own transaction (it stays used whatever follows)."""
        if not plausible_token(token):
            return None
        async with self._ident.db.transaction() as conn:
            return await one_time_tokens.consume(conn, purpose, digest(token))


def _same_browser(found: OneTimeToken, binding: str) -> bool:
    expected = str(found.data.get("binding", ""))
    return bool(binding) and hmac.compare_digest(digest(binding).hex(), expected)


def build_provider(name: str, ident: Identity, http: aiohttp.ClientSession) -> Provider:
    settings = ident.settings.auth.providers[name]
    secret = client_secret(name, settings)
    kind = OidcProvider if settings.kind == "oidc" else GitHubProvider
    return kind(name, settings, secret, lambda: http)


@contextlib.asynccontextmanager
async def open_social(ident: Identity) -> AsyncIterator[SocialSignin]:
    """The configured providers, sharing one HTTP client that closes on exit."""
    async with aiohttp.ClientSession(headers={"User-Agent": "rowgate"}) as http:
        providers = {name: build_provider(name, ident, http) for name in ident.settings.auth.providers}
        yield SocialSignin(ident, providers)
