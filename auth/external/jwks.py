"""The signing keys of one external issuer, fetched from its ``jwks_url`` and kept in memory.

Keys are fetched on first use and again after ``jwks_cache_ttl``.  A token naming a ``kid`` the
set does not hold (the issuer rotated its keys) triggers a fetch at once, but at most one per
``jwks_refetch_interval``: a flood of tokens with made-up kids costs the issuer one request per
interval, and concurrent callers share one fetch.  A failed fetch keeps the keys already known.

Only public signature keys are taken: RSA (2048 bits or more), EC P-256/384/521 and Ed25519;
symmetric (``oct``) keys, keys carrying private members, keys for encryption (``use: enc``) and
keys without a ``kid`` are skipped.  The set is read as untrusted input (bounded size, strict
JSON object, every member checked).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt import PyJWK
from jwt.exceptions import PyJWTError

from rowgate.config.tenancy import ExternalIssuer
from rowgate.errors import InvalidToken, ServiceUnavailable

log = logging.getLogger("rowgate.issuers")

MAX_JWKS_BYTES = 512 * 1024
MAX_KEYS = 100
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "k", "oth"})
_FAMILIES = {"RSA": "RS256", "EC": None, "OKP": "EdDSA"}
_CURVES = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}


@dataclass(frozen=True, slots=True)
class ExternalKey:
    kid: str
    kty: str
    crv: str | None
    #: The ``alg`` the issuer pinned on the key, if any.
    alg: str | None
    key: Any
    #: The JWK as published (canonical JSON), to notice a kid that now names another key.
    source: str

    def fits(self, alg: str) -> bool:
        """True when a token signed with ``alg`` may be verified with this key."""
        if self.alg is not None and self.alg != alg:
            return False
        if alg.startswith(("RS", "PS")):
            return self.kty == "RSA"
        if alg.startswith("ES"):
            return self.kty == "EC" and _CURVES.get(self.crv or "") == alg
        return alg == "EdDSA" and self.kty == "OKP" and self.crv == "Ed25519"


def parse_jwks(document: object) -> dict[str, ExternalKey]:
    """The usable signature keys of a JWK Set, by kid (unusable entries skipped with a warning)."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK Set (an object with a 'keys' list)")
    found: dict[str, ExternalKey] = {}
    for jwk in document["keys"][:MAX_KEYS]:
        key = _parse_key(jwk)
        if key is not None:
            found[key.kid] = key
    return found


def _parse_key(jwk: object) -> ExternalKey | None:
    if not isinstance(jwk, dict):
        return None
    kid, kty, crv, alg = jwk.get("kid"), jwk.get("kty"), jwk.get("crv"), jwk.get("alg")
    if not isinstance(kid, str) or not 0 < len(kid) <= 256 or kty not in _FAMILIES:
        return None
    if _PRIVATE_MEMBERS & jwk.keys() or jwk.get("use", "sig") != "sig":
        return None
    if (crv is not None and not isinstance(crv, str)) or (alg is not None and not isinstance(alg, str)):
        return None
    family = _FAMILIES[kty] or _CURVES.get(crv or "")
    if family is None:
        return None
    try:
        parsed = PyJWK(jwk, algorithm=family).key
    except (PyJWTError, ValueError, TypeError, KeyError):
        log.warning("skipped an unusable key (kid %r) in an external JWK Set", kid[:64])
        return None
    if isinstance(parsed, rsa.RSAPublicKey) and parsed.key_size < 2048:
        return None
    return ExternalKey(kid, kty, crv, alg, parsed, json.dumps(jwk, sort_keys=True))


class JwksCache:
    """The keys of one issuer; ``key(kid, alg)`` finds the one to verify a token with."""

    def __init__(
        self,
        issuer: ExternalIssuer,
        http: Callable[[], aiohttp.ClientSession],
        *,
        monotonic: Callable[[], float] = time.monotonic,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._url = issuer.jwks_url
        self._ttl = issuer.jwks_cache_ttl.total_seconds()
        self._interval = issuer.jwks_refetch_interval.total_seconds()
        self._timeout = issuer.jwks_timeout.total_seconds()
        self._http = http
        self._monotonic = monotonic
        self._on_change = on_change
        self._keys: Mapping[str, ExternalKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._fetching: asyncio.Task[None] | None = None

    async def key(self, kid: str, alg: str) -> ExternalKey:
        now = self._monotonic()
        stale = self._fetched_at is None or now - self._fetched_at >= self._ttl
        if stale or kid not in self._keys:
            await self._refresh(now)
        if not self._keys and self._fetched_at is None:
            raise ServiceUnavailable(
                "The token's issuer could not be reached for its signing keys; try again shortly.",
                code="issuer_unavailable",
            )
        key = self._keys.get(kid)
        if key is None:
            raise InvalidToken("The token was signed with a key its issuer does not publish.")
        if not key.fits(alg):
            raise InvalidToken("The token's algorithm (alg) does not fit its signing key.")
        return key

    async def _refresh(self, now: float) -> None:
        if self._fetching is None:
            if self._attempted_at is not None and now - self._attempted_at < self._interval:
                return  # fetched (or tried) a moment ago: no fetch on behalf of every unknown kid
            self._attempted_at = now
            self._fetching = asyncio.create_task(self._fetch())
            self._fetching.add_done_callback(self._fetched)
        await asyncio.shield(self._fetching)

    def _fetched(self, task: asyncio.Task[None]) -> None:
        self._fetching = None
        if not task.cancelled():
            task.exception()

    async def _fetch(self) -> None:
        try:
            keys = parse_jwks(await self._download())
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError, RecursionError) as exc:
            log.warning(
                "could not fetch the JWK Set of an external issuer (%s): %s", self._url, type(exc).__name__
            )
            return
        except Exception:  # whatever the issuer sent, a request must get a 401/503, never a 500
            log.exception("reading the JWK Set of an external issuer (%s) failed", self._url)
            return
        changed = _sources(keys) != _sources(self._keys)
        self._keys = keys
        self._fetched_at = self._monotonic()
        if changed and self._on_change is not None:
            self._on_change()

    async def _download(self) -> object:
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        async with self._http().get(self._url, timeout=timeout, max_redirects=3) as response:
            if response.status != 200:
                raise ValueError(f"status {response.status}")
            if response.content_length is not None and response.content_length > MAX_JWKS_BYTES:
                raise ValueError("too large")
            body = await response.content.read(MAX_JWKS_BYTES + 1)
        if len(body) > MAX_JWKS_BYTES:
            raise ValueError("too large")
        return json.loads(body)


def _sources(keys: Mapping[str, ExternalKey]) -> dict[str, str]:
    return {kid: key.source for kid, key in keys.items()}
