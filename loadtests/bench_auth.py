"""Micro-benchmark: authenticating a request by a cached API key against a cached rowgate JWT.

    python -m pytest loadtests/bench_auth.py --benchmark-enable --benchmark-columns=min,median,mean,rounds

Both run the real authenticators on a prepared request, after a first call has filled their caches
(the API key's record came from a stub database, which the benchmark then makes refuse every
query: a cached key must need none).  The target: the API key costs no more than the JWT, within
10%.  Figures are recorded in ``loadtests/RESULTS.md``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request

from rowgate.auth.apikeys.format import generate
from rowgate.auth.apikeys.usage import UsageCounter
from rowgate.auth.apikeys.verify import ApiKeyVerifier
from rowgate.auth.principal import Principal
from rowgate.auth.rbac.catalog import RoleCatalog
from rowgate.auth.sessions.revocation import RevocationList
from rowgate.auth.store import MemoryStore
from rowgate.auth.tokens.keys import KeyRing, generate_key
from rowgate.auth.tokens.service import TokenService
from rowgate.config.schema import ServerSettings, Settings
from rowgate.config.tenancy import ApiKeySettings, RbacSettings
from rowgate.proxy.authenticators import ApiKeyAuthenticator, BearerAuthenticator


async def nothing_revoked(seconds: float) -> dict[str, float]:
    """The durable revocations of a benchmark: none."""
    return {}


ORG = "4a1c2d7e-6a3b-4f8e-8b1a-2f9d7c5e3b10"
USER = "7c9e6679-7425-40de-944b-e07fc1f90ae7"


class StubDatabase:
    """Answers the key lookup once; any later query fails the benchmark."""

    def __init__(self, row: dict[str, Any]) -> None:
        self.row: dict[str, Any] | None = row

    async def fetchrow(self, query: str, *args: Any) -> dict[str, Any] | None:
        row, self.row = self.row, None
        if row is None:
            raise AssertionError("a cached key asked the database")
        return row


def run(coroutine: Coroutine[Any, Any, Principal | None]) -> Principal | None:
    """Drive a coroutine that never suspends (a cache hit) without an event loop."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    raise AssertionError("the authenticator waited for I/O")


@pytest.fixture(scope="module")
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture(scope="module")
def catalog(store: MemoryStore) -> RoleCatalog:
    return RoleCatalog(None, store, RbacSettings())  # type: ignore[arg-type]  # built-in roles only


@pytest.mark.benchmark(group="authenticate cached")
def test_bearer_jwt_cached(benchmark: Any, store: MemoryStore, catalog: RoleCatalog) -> None:
    tokens = TokenService(
        Settings(server=ServerSettings(public_url="https://auth.example.test")),
        KeyRing.of(generate_key("EdDSA")),
    )
    token = tokens.issue_access(
        sub=USER, sid="0b6f2f9e-3f0c-4d8e-9a43-3c1b1d1f6f0a", amr=["pwd"], org_id=ORG, role="admin"
    ).token
    authenticate = BearerAuthenticator(tokens, RevocationList(store, nothing_revoked, 900), catalog)
    request = make_mocked_request("GET", "/api/hello", headers={"Authorization": f"Bearer {token}"})
    assert run(authenticate(request)) is not None  # fills the verified-token cache
    principal = benchmark(lambda: run(authenticate(request)))
    assert principal is not None
    assert principal.org_id == ORG


@pytest.mark.benchmark(group="authenticate cached")
def test_api_key_cached(benchmark: Any, store: MemoryStore, catalog: RoleCatalog) -> None:
    key = generate("secret")
    row = {
        "id": "3b241101-e2bb-4255-8caf-4136c566a962",
        "org_id": ORG,
        "type": "secret",
        "scopes": ["*"],
        "created_by": USER,
        "role": "admin",
        "usable_until": None,
        "revoked": False,
        "digest": key.digest,
    }
    db: Any = StubDatabase(row)
    verifier = ApiKeyVerifier(db, store, catalog, UsageCounter(db, 3600), ApiKeySettings())
    authenticate = ApiKeyAuthenticator(verifier)
    request = make_mocked_request("GET", "/api/hello", headers={"X-API-Key": key.text})
    assert asyncio.run(authenticate(request)) is not None  # the one database lookup
    principal = benchmark(lambda: run(authenticate(request)))
    assert principal is not None
    assert principal.org_id == ORG
    assert "admin" in principal.groups
