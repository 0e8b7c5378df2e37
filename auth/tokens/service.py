"""The token service: issue access and ID tokens, verify access tokens, fast.

Built once at start-up from the settings and the current ``KeyRing``; ``SigningKeys`` hands it every
new ring (``use_keyring``), which also empties the verified-token cache, so a key that was removed
stops verifying at once::

    keys = SigningKeys(db, box, store, settings.tokens)
    tokens = TokenService(settings, await keys.start())
    keys.add_listener(tokens.use_keyring)

Verification is synchronous (pure CPU, no I/O).  A token that verified is cached until its ``exp``,
so a hot token costs a dictionary lookup.  Revocation is *not* cached: pass ``revoked`` (e.g.
``RevocationList.is_revoked``) so that the session id is checked on every call, or check ``sid``
yourself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rowgate.auth.tokens import jws
from rowgate.auth.tokens.claims import (
    ACCESS_TYP,
    ACCESS_TYPES,
    ID_TYP,
    AccessClaims,
    Expected,
    access_payload,
    id_payload,
    validate_access,
)
from rowgate.auth.tokens.keys import KeyRing
from rowgate.auth.tokens.verify_cache import VerifiedCache
from rowgate.config.schema import Settings
from rowgate.errors import TokenRevoked

#: ``client_id`` of tokens rowgate issues for itself (its own first-party sign-in flows).
CLIENT_ID = "rowgate"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A signed token and when it expires (``expires_in`` seconds from now; ``expires_at`` epoch)."""

    token: str
    expires_in: int
    expires_at: int


class TokenService:
    """Issues and verifies rowgate's tokens with the keys of the current ``KeyRing``."""

    def __init__(
        self, settings: Settings, keyring: KeyRing, *, clock: Callable[[], float] = time.time
    ) -> None:
        tokens = settings.tokens
        self._expected = Expected(settings.issuer, tokens.audience, tokens.leeway.total_seconds())
        self._access_ttl = int(tokens.access_ttl.total_seconds())
        self._id_ttl = int(tokens.id_ttl.total_seconds())
        self._clock = clock
        self._ring = keyring
        self.cache: VerifiedCache[AccessClaims] = VerifiedCache(tokens.verify_cache_size)

    @property
    def keyring(self) -> KeyRing:
        return self._ring

    def use_keyring(self, keyring: KeyRing) -> None:
        """Sign and verify with ``keyring`` from now on; tokens verified before are checked again."""
        self._ring = keyring
        self.cache.clear()

    def issue_access(
        self,
        *,
        sub: str,
        sid: str,
        amr: Sequence[str],
        org_id: str | None = None,
        role: str | None = None,
        client_id: str = CLIENT_ID,
        extra: Mapping[str, Any] | None = None,
        auth_time: int | None = None,
    ) -> IssuedToken:
        """A signed RFC 9068 access token; ``extra`` adds claims such as ``scope`` or ``perms``."""
        now = int(self._clock())
        payload = access_payload(
            expected=self._expected,
            sub=sub,
            sid=sid,
            client_id=client_id,
            amr=amr,
            org_id=org_id,
            role=role,
            now=now,
            ttl=self._access_ttl,
            extra=extra,
            auth_time=auth_time,
        )
        token = jws.sign(payload, self._ring.signing, ACCESS_TYP)
        return IssuedToken(token, self._access_ttl, payload["exp"])

    def issue_id(
        self,
        *,
        sub: str,
        sid: str,
        email: str,
        email_verified: bool,
        auth_time: int,
        name: str | None = None,
        nonce: str | None = None,
        audience: str | None = None,
    ) -> IssuedToken:
        """A signed OpenID Connect ID token for ``audience`` (default: the configured audience)."""
        now = int(self._clock())
        payload = id_payload(
            issuer=self._expected.issuer,
            audience=audience or self._expected.audience,
            sub=sub,
            sid=sid,
            email=email,
            email_verified=email_verified,
            name=name,
            auth_time=auth_time,
            nonce=nonce,
            now=now,
            ttl=self._id_ttl,
        )
        token = jws.sign(payload, self._ring.signing, ID_TYP)
        return IssuedToken(token, self._id_ttl, payload["exp"])

    def verify_access(self, token: str, *, revoked: Callable[[str], bool] | None = None) -> AccessClaims:
        """The claims of a valid access token; InvalidToken (TokenExpired, TokenRevoked) otherwise.

        ``revoked(sid)`` is asked on every call, cached token or not.
        """
        jws.check_size(token)  # before the cache lookup: an oversized token is not even hashed
        now = self._clock()
        claims = self.cache.get(token, now)
        if claims is None:
            payload = jws.verify(token, self._ring, now, ACCESS_TYPES)
            claims = validate_access(payload, self._expected, now)
            self.cache.put(token, claims, claims.exp + self._expected.leeway)
        if revoked is not None and revoked(claims.sid):
            raise TokenRevoked("This session was signed out: sign in again.")
        return claims
