"""Identity flows against real PostgreSQL and Redis, without HTTP, with a small token issuer."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

from rowgate.auth.audit import ClientContext
from rowgate.auth.db import Database
from rowgate.auth.flows.identity import Identity
from rowgate.auth.flows.runtime import IdentityRuntime, open_identity
from rowgate.auth.mail.backends import links_in
from rowgate.auth.sessions.revocation import RevocationList, database_source, horizon
from rowgate.auth.store import RedisStore
from rowgate.config.schema import Settings
from rowgate.proxy.links import mail_links

SettingsFactory = Callable[..., Settings]
FAST_ARGON2 = {"auth.argon2.memory_cost": 64, "auth.argon2.time_cost": 1, "auth.argon2.max_wait": "1m"}
CLIENT = ClientContext(ip="203.0.113.7", user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0")
GOOD_PASSWORD = "Correct-Horse-42"
TEST_KEY = "test-signing-key-that-is-long-enough-for-hs256"


@dataclass(frozen=True)
class FakeIssued:
    token: str
    expires_in: int


class FakeIssuer:
    """Signs HS256 tokens with a test key, so tests can read the claims."""

    def issue_access(self, **claims: Any) -> FakeIssued:
        claims["amr"] = list(claims["amr"])
        return FakeIssued(jwt.encode({**claims, "typ": "access"}, TEST_KEY, "HS256"), 900)

    def issue_id(self, **claims: Any) -> FakeIssued:
        return FakeIssued(jwt.encode({**claims, "typ": "id"}, TEST_KEY, "HS256"), 3600)


def claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, TEST_KEY, algorithms=["HS256"]))


@dataclass
class Harness:
    runtime: IdentityRuntime
    settings: Settings

    @property
    def ident(self) -> Identity:
        return self.runtime.identity

    async def mails(self) -> list[EmailMessage]:
        """Deliver what is due, then every message written by the file backend, oldest first."""
        await self.runtime.sender.run_once()
        folder = self.settings.data_dir / "mail"
        files = sorted(folder.glob("*.eml")) if folder.exists() else []
        found = [message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]
        return [m for m in found if isinstance(m, EmailMessage)]

    async def last_token(self, to: str, subject: str) -> str:
        """The token in the link of the newest mail to ``to`` whose subject holds ``subject``."""
        mine = [m for m in await self.mails() if m["To"] == to and subject in str(m["Subject"])]
        assert mine, f"no mail to {to}"
        (link,) = links_in(mine[-1])
        return parse_qs(urlsplit(link).query)["token"][0]

    async def audit(self, event: str | None = None) -> list[dict[str, Any]]:
        rows = await self.ident.db.fetch("SELECT * FROM rowgate.audit_events ORDER BY id")
        return [dict(r) for r in rows if event is None or r["event"] == event]


@pytest.fixture
def harness_factory(
    make_settings: SettingsFactory,
) -> Callable[..., contextlib.AbstractAsyncContextManager[Harness]]:
    @contextlib.asynccontextmanager
    async def open_harness(**overrides: Any) -> AsyncIterator[Harness]:
        settings = make_settings(**{**FAST_ARGON2, **overrides})
        assert settings.database.url
        assert settings.redis.url
        db = await Database.connect(settings.database.url, settings.database)
        store = await RedisStore.connect(settings.redis.url, settings.redis.key_prefix)
        revocations = RevocationList(store, database_source(db), horizon(settings.tokens))
        await revocations.start()
        try:
            async with open_identity(
                settings, db, store, revocations, FakeIssuer(), mail_links(settings), send_mail=False
            ) as runtime:
                yield Harness(runtime, settings)
        finally:
            await revocations.close()
            await store.close()
            await db.close()

    return open_harness


@pytest.fixture
async def harness(
    harness_factory: Callable[..., contextlib.AbstractAsyncContextManager[Harness]],
) -> AsyncIterator[Harness]:
    async with harness_factory() as opened:
        yield opened
