"""Signed webhooks to a real local HTTP receiver: the signature verifies as the README says, a
failing receiver gets retries with back-off until it answers, and the schedule ends in giving up."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from rowgate.auth.alerts import webhooks
from rowgate.auth.alerts.signing import signature, verify, webhook_secret
from rowgate.auth.alerts.webhooks import WebhookSender
from rowgate.auth.db import Database
from rowgate.config.alerts import AlertSettings
from rowgate.config.schema import DatabaseSettings
from rowgate.errors import ConfigError

pytestmark = pytest.mark.integration
SECRET = "whsec-test-0123456789abcdef"


@dataclass
class Receiver:
    """Answers 503 to the first ``failures`` posts, then 204; keeps what it got."""

    failures: int = 0
    got: list[tuple[str, bytes]] = field(default_factory=list)
    seen: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.seen += 1
        if self.seen <= self.failures:
            return web.Response(status=503)
        self.got.append((request.headers["Rowgate-Signature"], await request.read()))
        return web.Response(status=204)


@pytest.fixture
async def db(migrated_database: str) -> AsyncIterator[Database]:
    database = await Database.connect(migrated_database, DatabaseSettings())
    yield database
    await database.close()


async def serve(start_app: Callable[[web.Application], Awaitable[str]], receiver: Receiver) -> str:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    return f"{await start_app(app)}/hook"


def settings(url: str, schedule: tuple[str, ...] = ("100ms", "200ms", "400ms", "800ms")) -> AlertSettings:
    return AlertSettings.model_validate(
        {"webhooks": [url], "retry_schedule": schedule, "poll_interval": "50ms"}
    )


async def queue(db: Database, url: str, body: dict[str, str]) -> None:
    async with db.transaction() as conn:
        await webhooks.queue(conn, (url,), json.dumps(body))


def readme_verify() -> Callable[..., bool]:
    """The ``verify`` of the README's snippet (the first Python block of its alerts section)."""
    text = (Path(__file__).parents[3] / "README.md").read_text()
    section = text[text.index("## Suspicious-activity alerts") :]
    code = section[section.index("```python\n") + len("```python\n") :]
    namespace: dict[str, Any] = {}
    exec(code[: code.index("```")], namespace)  # noqa: S102 - our own README
    return namespace["verify"]  # type: ignore[no-any-return]


def receiver_verifies(secret: bytes, header: str, body: bytes) -> bool:
    return readme_verify()(secret, header, body)


async def test_the_webhook_arrives_signed_as_documented(
    db: Database, start_app: Callable[[web.Application], Awaitable[str]]
) -> None:
    receiver = Receiver()
    url = await serve(start_app, receiver)
    await queue(db, url, {"type": "alert.lockout"})
    sender = WebhookSender(db, settings(url), SECRET.encode())
    try:
        assert await sender.run_once() == 1
    finally:
        await sender.stop()
    ((header, body),) = receiver.got
    assert json.loads(body) == {"type": "alert.lockout"}
    assert receiver_verifies(SECRET.encode(), header, body)
    assert verify(SECRET.encode(), header, body, int(time.time()))
    assert not receiver_verifies(b"another-secret-of-16+", header, body)
    assert not verify(SECRET.encode(), header, body + b" ", int(time.time()))
    assert not verify(SECRET.encode(), header, body, int(time.time()) + 3600)  # a replay, an hour on
    assert await db.fetchval("SELECT sent_at IS NOT NULL FROM rowgate.webhook_outbox") is True


async def test_a_failing_receiver_gets_retries_with_back_off_until_it_answers(
    db: Database, start_app: Callable[[web.Application], Awaitable[str]]
) -> None:
    receiver = Receiver(failures=2)
    url = await serve(start_app, receiver)
    await queue(db, url, {"type": "alert.new_device"})
    sender = WebhookSender(db, settings(url, ("2s", "100ms", "100ms")), SECRET.encode())
    assert await sender.run_once() == 1  # the first attempt fails
    row = await db.fetchrow(
        "SELECT attempts, last_error, next_attempt_at > now() AS later FROM rowgate.webhook_outbox"
    )
    assert row is not None
    assert (row["attempts"], row["last_error"], row["later"]) == (1, "HTTP 503", True)
    assert await sender.run_once() == 0  # not due yet: it waits its turn in the schedule
    sender.start()
    try:
        async with asyncio.timeout(30):  # generous: a busy machine is slow, not wrong
            while not await db.fetchval("SELECT sent_at IS NOT NULL FROM rowgate.webhook_outbox"):
                await asyncio.sleep(0.05)
    finally:
        await sender.stop()
    assert await db.fetchval("SELECT attempts FROM rowgate.webhook_outbox") == 3
    assert receiver.seen == 3
    ((header, body),) = receiver.got
    assert receiver_verifies(SECRET.encode(), header, body)


async def test_the_schedule_ends_in_giving_up(
    db: Database, start_app: Callable[[web.Application], Awaitable[str]]
) -> None:
    receiver = Receiver(failures=100)
    url = await serve(start_app, receiver)
    await queue(db, url, {"type": "alert.lockout"})
    sender = WebhookSender(db, settings(url, ("10ms",)), SECRET.encode())
    async with asyncio.timeout(30):  # the retry may come within the first round already
        while not await db.fetchval("SELECT failed_at IS NOT NULL FROM rowgate.webhook_outbox"):
            await sender.run_once()
            await asyncio.sleep(0.02)
    await sender.stop()
    row = await db.fetchrow("SELECT attempts, failed_at IS NOT NULL AS failed FROM rowgate.webhook_outbox")
    assert row is not None
    assert (row["attempts"], row["failed"]) == (2, True)


async def test_a_redirect_is_not_followed(
    db: Database, start_app: Callable[[web.Application], Awaitable[str]]
) -> None:
    receiver = Receiver()
    target = await serve(start_app, receiver)
    app = web.Application()

    async def moved(_: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(target)

    app.router.add_post("/old", moved)
    url = f"{await start_app(app)}/old"
    await queue(db, url, {"type": "alert.lockout"})
    sender = WebhookSender(db, settings(url), SECRET.encode())
    await sender.run_once()
    await sender.stop()
    assert receiver.got == []
    assert await db.fetchval("SELECT last_error FROM rowgate.webhook_outbox") == "HTTP 307"


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = b'{"type":"alert.lockout"}'
    mac = hmac.new(b"k" * 16, b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature(b"k" * 16, 1700000000, body) == f"t=1700000000,v1={mac}"
    assert not verify(b"k" * 16, "v1=" + mac, body, 1700000000)  # no timestamp: refused


def test_the_secret_comes_from_the_environment_and_is_required_with_webhooks() -> None:
    assert webhook_secret((), {}) is None
    assert (
        webhook_secret(("https://h.example.com/x",), {"ROWGATE_ALERTS_WEBHOOK_SECRET": SECRET})
        == SECRET.encode()
    )
    with pytest.raises(ConfigError, match=r"alerts\.webhooks: set ROWGATE_ALERTS_WEBHOOK_SECRET"):
        webhook_secret(("https://h.example.com/x",), {})
    with pytest.raises(ConfigError, match="at least 16"):
        webhook_secret(("https://h.example.com/x",), {"ROWGATE_ALERTS_WEBHOOK_SECRET": "short"})


async def test_the_janitor_purges_delivered_and_given_up_webhooks_past_retention(db: Database) -> None:
    from datetime import timedelta

    from rowgate.auth.flows.janitor import purge

    for _ in range(3):
        await queue(db, "https://h.example.com/x", {"type": "alert.lockout"})
    first, last = (
        await db.fetchval("SELECT min(id) FROM rowgate.webhook_outbox"),
        await db.fetchval("SELECT max(id) FROM rowgate.webhook_outbox"),
    )
    old = "now() - interval '8 days'"
    await db.execute(f"UPDATE rowgate.webhook_outbox SET sent_at = {old} WHERE id = $1", first)
    await db.execute(f"UPDATE rowgate.webhook_outbox SET failed_at = {old} WHERE id = $1", last)
    removed = await purge(db, timedelta(days=7))
    assert removed["webhook_outbox"] == 2
    assert await db.fetchval("SELECT count(*) FROM rowgate.webhook_outbox") == 1  # the pending one stays
