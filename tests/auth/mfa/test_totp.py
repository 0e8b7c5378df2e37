"""TOTP and backup codes against oathtool, and the replay guard shared by two instances."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from rowgate.auth.crypto import SecretBox
from rowgate.auth.db import Database
from rowgate.auth.mfa import backup, totp
from rowgate.auth.mfa.replay import ReplayGuard
from rowgate.auth.mfa.service import MfaService, SecondFactor
from rowgate.auth.repo import users
from rowgate.auth.store import EphemeralStore
from rowgate.auth.store.memory import MemoryStore
from rowgate.auth.store.redis import RedisStore
from rowgate.config.schema import DatabaseSettings
from tests.conftest import REDIS_URL
from tests.mfakit import STEP, oathtool

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
T0 = 1_800_000_000.0  # the start of a step


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_oathtool_codes_within_one_step_are_accepted(offset: int) -> None:
    code = oathtool(SECRET, T0 + offset * STEP)
    assert totp.matching_step(SECRET, code, T0 + 5) == totp.step_of(T0) + offset


@pytest.mark.parametrize("offset", [-3, -2, 2, 3])
def test_oathtool_codes_beyond_one_step_are_refused(offset: int) -> None:
    code = oathtool(SECRET, T0 + offset * STEP)
    assert totp.matching_step(SECRET, code, T0 + 5) is None


def test_codes_are_normalised_or_refused() -> None:
    assert totp.normalize_code(" 123 456 ") == "123456"
    for bad in ("12345", "1234567", "12345a", "", "１２３４５６"):
        assert totp.normalize_code(bad) is None


def test_backup_codes_are_random_forgiving_and_stored_as_digests() -> None:
    codes = backup.new_codes()
    assert len(set(codes)) == backup.COUNT == 10
    shown = backup.display(codes[0])
    assert backup.normalize(shown.upper().replace("-", " - ")) == codes[0]
    assert backup.digest(codes[0]) != codes[0].encode()
    for bad in ("", "abc", "k3m9q-x7v2a1", "0000000000", "k3m9q_x7v2a"):
        assert backup.normalize(bad) is None


def test_the_qr_code_is_an_svg_data_url() -> None:
    uri = totp.provisioning_uri(SECRET, "ada@example.com", "Example")
    assert uri.startswith("otpauth://totp/Example:ada%40example.com?secret=")
    assert totp.qr_data_url(uri).startswith("data:image/svg+xml")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def db(migrated_database: str) -> AsyncIterator[Database]:
    database = await Database.connect(migrated_database, DatabaseSettings())
    yield database
    await database.close()


async def new_user(db: Database) -> str:
    async with db.connection() as conn:
        user = await users.insert_user(conn, f"{secrets.token_hex(4)}@example.com", "x", None)
    assert user is not None
    return user.id


async def instance(db: Database, store: EphemeralStore, box: SecretBox, clock: Clock) -> MfaService:
    return MfaService(db, box, ReplayGuard(db, store), clock)


StoreFactory = Callable[[], Any]


@pytest.fixture(params=["redis", "postgresql"])
async def stores(request: pytest.FixtureRequest, redis_prefix: str) -> AsyncIterator[list[EphemeralStore]]:
    """Two instances' stores: Redis (shared), or in-process ones (the guard then uses PostgreSQL)."""
    if request.param == "redis":
        opened: list[EphemeralStore] = [await RedisStore.connect(REDIS_URL, redis_prefix) for _ in range(2)]
    else:
        opened = [MemoryStore(), MemoryStore()]
    yield opened
    for store in opened:
        await store.close()


async def test_two_instances_accept_a_code_once(db: Database, stores: list[EphemeralStore]) -> None:
    box, clock = SecretBox(secrets.token_bytes(32)), Clock(T0 + 3)
    first, second = [await instance(db, s, box, clock) for s in stores]
    user_id = await new_user(db)
    started = await first.begin(user_id, "ada@example.com", "rowgate")
    codes = await second.confirm(user_id, oathtool(started.secret, T0))
    assert codes is not None
    # The code that confirmed is spent, on both instances.
    assert await first.check(user_id, SecondFactor(code=oathtool(started.secret, T0))) is None
    later = oathtool(started.secret, T0 + STEP)
    assert await first.check(user_id, SecondFactor(code=later)) == "otp"
    assert await second.check(user_id, SecondFactor(code=later)) is None
    # A backup code works once, on either instance.
    assert await second.check(user_id, SecondFactor(backup_code=codes[0])) == "backup_code"
    assert await first.check(user_id, SecondFactor(backup_code=codes[0])) is None
    assert await first.check(user_id, SecondFactor(backup_code=codes[1]), backup_allowed=False) is None


async def test_a_secret_sealed_for_one_user_does_not_open_for_another(db: Database) -> None:
    box, clock = SecretBox(secrets.token_bytes(32)), Clock(time.time())
    service = await instance(db, MemoryStore(), box, clock)
    ada, bob = await new_user(db), await new_user(db)
    started = await service.begin(ada, "ada@example.com", "rowgate")
    await service.begin(bob, "bob@example.com", "rowgate")
    await db.fetchval(
        "UPDATE rowgate.mfa_factors SET secret = (SELECT secret FROM rowgate.mfa_factors WHERE user_id = $1) "
        "WHERE user_id = $2",
        ada,
        bob,
    )
    from rowgate.errors import DecryptionFailed

    with pytest.raises(DecryptionFailed):
        await service.confirm(bob, oathtool(started.secret, clock.now))
