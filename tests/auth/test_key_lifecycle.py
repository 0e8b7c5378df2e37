"""The signing-key lifecycle end to end: two instances rotating on their own, a relying party that
caches the JWKS for its ``max-age`` and never refetches on an unknown ``kid``, and not one valid
token refused on the way.

Time is a clock the test moves (a minute a step, four hours in all); the database agrees with it
because every lifecycle query takes its ``now`` from that clock.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import jwt
import pytest

from rowgate.auth.crypto import SecretBox
from rowgate.auth.db import Database
from rowgate.auth.store import MemoryStore
from rowgate.auth.telemetry import REGISTRY
from rowgate.auth.tokens import lifecycle
from rowgate.auth.tokens.keystore import SigningKeys
from rowgate.auth.tokens.service import TokenService
from rowgate.config.schema import DatabaseSettings, KeyRotation, Settings
from tests import keykit

STEP = timedelta(minutes=1)
SETTINGS = keykit.settings(
    rotation=KeyRotation(every=timedelta(hours=1)),
    jwks_max_age=timedelta(minutes=5),
    leeway=timedelta(seconds=30),
    access_ttl=timedelta(minutes=15),
    id_ttl=timedelta(minutes=20),
)
TOKENS = SETTINGS.tokens


class Clock:
    def __init__(self) -> None:
        self.now = float(int(time.time()))  # whole seconds: the database keeps microseconds

    def __call__(self) -> float:
        return self.now


class CachingVerifier:
    """A relying party: fetches the JWKS at most once per ``max_age``, and never because a ``kid``
    is unknown (that would hide a key signing before it was published)."""

    def __init__(self, fetch: Callable[[], dict[str, Any]], max_age: float, clock: Clock) -> None:
        self._fetch, self._max_age, self._clock = fetch, max_age, clock
        self._keys: jwt.PyJWKSet | None = None
        self._fetched = 0.0

    def verify(self, token: str) -> dict[str, Any]:
        now = self._clock()
        if self._keys is None or now >= self._fetched + self._max_age:
            self._keys, self._fetched = jwt.PyJWKSet.from_dict(self._fetch()), now
        key = self._keys[jwt.get_unverified_header(token)["kid"]]
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=[key.algorithm_name],
            audience=keykit.AUDIENCE,
            issuer=keykit.ISSUER,
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},  # the test's clock
        )
        assert claims["exp"] > now
        return claims


@pytest.fixture
async def instances(migrated_database: str) -> AsyncIterator[tuple[Clock, list[SigningKeys]]]:
    clock, box, store = Clock(), SecretBox(secrets.token_bytes(32)), MemoryStore("test:")
    started: list[SigningKeys] = []
    for _ in range(2):
        db = await Database.connect(migrated_database, DatabaseSettings(pool_min_size=0, pool_max_size=2))
        keys = SigningKeys(db, box, store, TOKENS, refresh_interval=3600, clock=clock)
        await keys.start()
        started.append(keys)
    yield clock, started
    for keys in started:
        await keys.close()
        await keys._db.close()


async def in_step(keys: list[SigningKeys]) -> None:
    """Wait until both instances hold the same ring (announcements travel asynchronously)."""
    for _ in range(1000):
        if keys[0].ring.same_as(keys[1].ring):
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the instances never agreed on the keys")


async def test_keys_rotate_on_their_own_and_no_valid_token_is_ever_refused(
    instances: tuple[Clock, list[SigningKeys]],
) -> None:
    clock, keys = instances
    services = [TokenService(SETTINGS, k.ring, clock=clock) for k in keys]
    for k, service in zip(keys, services, strict=True):
        k.add_listener(service.use_keyring)
    events: list[str] = []
    keys[0].on_changes(lambda changes: events.extend(c.event for c in changes))
    keys[1].on_changes(lambda changes: events.extend(c.event for c in changes))
    servers = itertools.cycle(keys)  # the relying party reaches either instance
    verifier = CachingVerifier(
        lambda: next(servers).ring.jwks(now=clock()), TOKENS.jwks_max_age.total_seconds(), clock
    )
    published: dict[str, float] = {}  # kid -> first seen in a JWKS
    signed: dict[str, float] = {}  # kid -> first token it signed
    issued: list[tuple[str, float]] = []
    rotations_before = REGISTRY.get_sample_value("rowgate_key_rotations_total") or 0.0

    for step in range(4 * 60 + 5):
        clock.now += STEP.total_seconds()
        await asyncio.gather(*(k.tick() for k in keys))  # both try; one acts, the other skips
        await in_step(keys)
        for jwk in keys[step % 2].ring.jwks(now=clock())["keys"]:
            published.setdefault(jwk["kid"], clock())
        issuer = services[step % 2]
        token = issuer.issue_access(sub="u", sid="s", amr=["pwd"])
        signed.setdefault(issuer.keyring.signing.kid, clock())
        issued.append((token.token, clock() + TOKENS.access_ttl.total_seconds()))
        for text, expires in issued:
            if expires > clock():  # every token still valid verifies everywhere
                assert verifier.verify(text)["sub"] == "u"
                for service in services:
                    assert service.verify_access(text).sub == "u"

    assert events.count("key.rotated") == 4
    assert (REGISTRY.get_sample_value("rowgate_key_rotations_total") or 0.0) - rotations_before == 4
    assert events.count("key.published") == 4
    ahead = TOKENS.jwks_max_age.total_seconds()
    later_keys = [kid for kid in signed if kid != next(iter(signed))]
    assert len(later_keys) == 4
    for kid in later_keys:
        assert signed[kid] - published[kid] >= ahead  # in every cached JWKS before it signed

    rows = await lifecycle.list_keys(keys[0]._db)
    states = {row.kid: row.state for row in rows}
    first = next(iter(signed))
    assert states[first] == "retired"
    jwks_now = {jwk["kid"] for jwk in keys[0].ring.jwks(now=clock())["keys"]}
    assert first not in jwks_now
    retiring = [row for row in rows if row.state == "retiring"]
    assert all(row.retired_at and row.retired_at.timestamp() > clock() - lifetime() for row in retiring)
    retired = [row for row in rows if row.state == "retired"]
    assert all(row.kid not in jwks_now for row in retired)
    recorded = await keys[0]._db.fetch(
        "SELECT event, details->>'kid' AS kid FROM rowgate.audit_events WHERE event LIKE 'key.%'"
    )
    assert sorted(r["event"] for r in recorded) == sorted(events)


def lifetime() -> float:
    return TOKENS.retired_key_lifetime.total_seconds()


def test_rotation_must_outlast_the_publication_window() -> None:
    with pytest.raises(ValueError, match="must be longer than jwks_max_age"):
        Settings.model_validate({"tokens": {"rotation": {"every": "5m"}}})
