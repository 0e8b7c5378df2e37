"""Admission control for argon2 over HTTP: a saturated hashing pool answers 503 ``busy`` at once.

The pool here has one thread and ``max_wait: 10ms``; a sign-in whose hash is held in that thread
saturates it.  Every later password check (sign-in for a known or an unknown address, signup,
password change) is then refused before anything is looked up or counted: no audit event, no
lockout count, no account, no dummy verification; the refusal is counted in ``/metrics``.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import aiohttp
import pytest

from rowgate.auth.passwords.hashing import PasswordHasher
from rowgate.auth.tokens.opaque import key_digest
from rowgate.proxy.appkeys import SERVICES
from tests.conftest import SettingsFactory
from tests.proxy.authkit import FAST, ROUTES, Answer, Api, Start
from tests.proxy.test_metrics import moved, scrape

pytestmark = pytest.mark.integration

KNOWN, UNKNOWN = "known@example.com", "nobody@example.com"
WRONG = "Wrong-Password-1"


class Held:
    """Wraps argon2's hasher so that its checks and hashes wait for ``gate`` in the pool's thread."""

    def __init__(self, real: Any, gate: threading.Event) -> None:
        self._real, self._gate = real, gate

    def verify(self, password_hash: str, password: str) -> bool:
        self._gate.wait(10)
        return bool(self._real.verify(password_hash, password))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@pytest.fixture
async def api(make_settings: SettingsFactory, start_rowgate: Start, http: aiohttp.ClientSession) -> Api:
    saturable = {"auth.argon2.threads": 1, "auth.argon2.max_wait": "10ms"}
    return Api(http, await start_rowgate(make_settings(**{**FAST, **ROUTES, **saturable})))


def hasher_of(api: Api) -> PasswordHasher:
    return api.server.app[SERVICES].identity.hasher


async def saturated(hasher: PasswordHasher) -> None:
    """Return once the held hash has run longer than ``max_wait``: nothing more fits."""
    async with asyncio.timeout(10):
        while hasher.capacity() > hasher.threads:
            await asyncio.sleep(0.005)


def assert_busy(answer: Answer) -> None:
    assert (answer.status, answer.code) == (503, "busy")
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert int(answer.headers["Retry-After"]) >= 1


async def failures_counted(api: Api, email: str) -> str | None:
    return await api.server.app[SERVICES].store.get(f"lock:account:fails:{key_digest(email)}")


async def test_a_saturated_pool_refuses_known_and_unknown_addresses_alike_without_side_effects(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    signed_up = await api.signup(KNOWN)
    assert signed_up.status == 201
    hasher, db = hasher_of(api), api.server.app[SERVICES].db
    gate = threading.Event()
    monkeypatch.setattr(hasher, "_argon2", Held(hasher._argon2, gate))
    events = await db.fetchval("SELECT count(*) FROM rowgate.audit_events")
    dummies = hasher.dummy_verifications
    before = await scrape(api)
    holding = asyncio.ensure_future(api.signin(KNOWN))
    try:
        await saturated(hasher)
        for email in (KNOWN, UNKNOWN):
            assert_busy(await api.signin(email, WRONG))
        assert_busy(await api.signup("new@example.com"))
        change = {"currentPassword": WRONG, "newPassword": "Brand-New-Secret-9"}
        token = signed_up.body["accessToken"]
        assert_busy(await api.call("POST", "/password/change", change, token=token))
    finally:
        gate.set()
    assert (await holding).status == 200
    after = await scrape(api)
    assert moved(before, after, "rowgate_password_hashing_refused_total", flow="signin") == 2
    assert moved(before, after, "rowgate_password_hashing_refused_total", flow="signup") == 1
    assert moved(before, after, "rowgate_password_hashing_refused_total", flow="password_change") == 1
    # Nothing of the refused attempts was recorded, counted or created.
    assert hasher.dummy_verifications == dummies
    assert await failures_counted(api, KNOWN) is None  # the held sign-in succeeded and cleared its own
    assert await failures_counted(api, UNKNOWN) is None
    assert await db.fetchval("SELECT count(*) FROM rowgate.users WHERE email = 'new@example.com'") == 0
    recorded = await db.fetch("SELECT event FROM rowgate.audit_events ORDER BY id OFFSET $1", events)
    assert [r["event"] for r in recorded] == ["signin.succeeded"]
    # Once the pool has caught up, the same requests are answered as usual.
    assert (await api.signin(UNKNOWN, WRONG)).status == 401
    assert (await api.signin(KNOWN)).status == 200
