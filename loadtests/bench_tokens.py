"""Micro-benchmarks of the token service (pytest-benchmark).

    python -m pytest loadtests/bench_tokens.py --benchmark-enable

Targets: a cached verification under 5 µs; an uncached EdDSA verification within 1.5x of PyJWT's
bare ``jwt.decode`` of the same token with the same key (rowgate does more checks: typ, header
allowlist, kid, canonical base64, typed claims).  Figures are recorded in ``loadtests/RESULTS.md``.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from rowgate.auth.sessions.revocation import RevocationList
from rowgate.auth.store import MemoryStore
from rowgate.auth.tokens.keys import ALGORITHMS, KeyRing, generate_key
from rowgate.auth.tokens.service import TokenService
from rowgate.config.schema import ServerSettings, Settings, TokenSettings


async def nothing_revoked(seconds: float) -> dict[str, float]:
    """The durable revocations of a benchmark: none."""
    return {}


ISSUER = "https://auth.example.test"
RINGS = {algorithm: KeyRing.of(generate_key(algorithm)) for algorithm in ALGORITHMS}


def service(algorithm: str, cache_size: int = 10_000) -> TokenService:
    settings = Settings(
        server=ServerSettings(public_url=ISSUER), tokens=TokenSettings(verify_cache_size=cache_size)
    )
    return TokenService(settings, RINGS[algorithm])


def access_token(tokens: TokenService) -> str:
    extra = {"scope": "read write", "perms": ["tasks:read", "tasks:write"]}
    return tokens.issue_access(
        sub="7c9e6679-7425-40de-944b-e07fc1f90ae7",
        sid="0b6f2f9e-3f0c-4d8e-9a43-3c1b1d1f6f0a",
        amr=["pwd", "mfa"],
        org_id="4a1c2d7e-6a3b-4f8e-8b1a-2f9d7c5e3b10",
        role="admin",
        extra=extra,
    ).token


@pytest.mark.benchmark(group="verify cached")
def test_verify_cached(benchmark: Any) -> None:
    tokens = service("EdDSA")
    token = access_token(tokens)
    tokens.verify_access(token)
    claims = benchmark(tokens.verify_access, token)
    assert claims.role == "admin"
    assert tokens.cache.hits > 0


@pytest.mark.benchmark(group="verify cached")
def test_verify_cached_with_revocation_check(benchmark: Any) -> None:
    tokens = service("EdDSA")
    token = access_token(tokens)
    revoked = RevocationList(MemoryStore(), nothing_revoked, 900).is_revoked
    tokens.verify_access(token)
    claims = benchmark(lambda: tokens.verify_access(token, revoked=revoked))
    assert claims.role == "admin"


@pytest.mark.benchmark(group="verify uncached EdDSA")
def test_verify_uncached_eddsa(benchmark: Any) -> None:
    tokens = service("EdDSA", cache_size=0)
    token = access_token(tokens)
    claims = benchmark(tokens.verify_access, token)
    assert claims.role == "admin"


@pytest.mark.benchmark(group="verify uncached EdDSA")
def test_pyjwt_decode_eddsa(benchmark: Any) -> None:
    """The baseline: PyJWT's bare decode of the same token with the same (parsed) key."""
    token = access_token(service("EdDSA"))
    public = RINGS["EdDSA"].signing.public
    options: dict[str, Any] = {"algorithms": ["EdDSA"], "audience": "rowgate", "issuer": ISSUER}
    claims = benchmark(lambda: jwt.decode(token, public, leeway=30, **options))
    assert claims["role"] == "admin"


@pytest.mark.parametrize("algorithm", ["ES256", "RS256", "HS256"])
@pytest.mark.benchmark(group="verify uncached, other algorithms")
def test_verify_uncached(benchmark: Any, algorithm: str) -> None:
    tokens = service(algorithm, cache_size=0)
    token = access_token(tokens)
    assert benchmark(tokens.verify_access, token).role == "admin"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.benchmark(group="issue")
def test_issue_access(benchmark: Any, algorithm: str) -> None:
    tokens = service(algorithm)
    token = benchmark(access_token, tokens)
    assert tokens.verify_access(token).exp > time.time()
