"""Mail over real SMTP (aiosmtpd in-process): TLS, AUTH, retries, permanent refusals, outages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiosmtplib import SMTPException

from rowgate.auth.db import Database
from rowgate.auth.mail.backends import SmtpBackend, is_permanent, smtp_password
from rowgate.auth.mail.compose import build_message, render
from rowgate.auth.mail.outbox import Mailer
from rowgate.auth.mail.sender import MailSender
from rowgate.config.identity import MailSettings, SmtpSettings
from rowgate.errors import ConfigError
from rowgate.proxy.appkeys import SERVICES
from tests.auth.mail.smtpkit import Sink, free_port, password_check, self_signed, smtp_server
from tests.conftest import SettingsFactory
from tests.proxy.authkit import FAST, PASSWORD, Api, Start

pytestmark = pytest.mark.integration
VALUES = {
    "product": "rowgate",
    "email": "a@example.com",
    "link": "https://x.test/?token=abc",
    "lifetime": "1 day",
}


def message(to: str = "a@example.com") -> bytes:
    return build_message(
        render("verify_email", VALUES), sender="rowgate <no-reply@rowgate.test>", recipient=to
    )


async def wait_for(sink: Sink, count: int = 1, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while len(sink.received) < count:
            await asyncio.sleep(0.02)


async def test_plain_smtp_delivers_the_message() -> None:
    with smtp_server() as (sink, port):
        backend = SmtpBackend(SmtpSettings(port=port, security="none"), None)
        await backend.send("no-reply@rowgate.test", "a@example.com", message())
    (got,) = sink.received
    assert (got.sender, got.recipients) == ("no-reply@rowgate.test", ["a@example.com"])
    assert got.message["Subject"] == "Confirm your email address for rowgate"
    assert "https://x.test/?token=abc" in got.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


async def test_starttls_with_auth_delivers(tmp_path: Path) -> None:
    tls = self_signed(tmp_path)
    options: dict[str, Any] = {
        "tls_context": tls,
        "require_starttls": True,
        "authenticator": password_check("rowgate", "s3cret"),
        "auth_require_tls": True,
    }
    with smtp_server(**options) as (sink, port):
        settings = SmtpSettings(port=port, security="starttls", username="rowgate", verify_certificates=False)
        password = smtp_password({"ROWGATE_SMTP_PASSWORD": "s3cret"})
        await SmtpBackend(settings, password).send("no-reply@rowgate.test", "a@example.com", message())
    assert len(sink.received) == 1


async def test_an_untrusted_certificate_is_refused_when_verification_is_on(tmp_path: Path) -> None:
    with smtp_server(tls_context=self_signed(tmp_path), require_starttls=True) as (sink, port):
        backend = SmtpBackend(SmtpSettings(port=port, security="starttls"), None)
        with pytest.raises((SMTPException, OSError)) as caught:
            await backend.send("no-reply@rowgate.test", "a@example.com", message())
    assert not is_permanent(caught.value)  # retried later, never sent in clear
    assert sink.received == []


async def test_a_wrong_smtp_password_is_not_delivered(tmp_path: Path) -> None:
    options: dict[str, Any] = {
        "tls_context": self_signed(tmp_path),
        "require_starttls": True,
        "authenticator": password_check("rowgate", "s3cret"),
        "auth_require_tls": True,
    }
    with smtp_server(**options) as (sink, port):
        settings = SmtpSettings(port=port, security="starttls", username="rowgate", verify_certificates=False)
        with pytest.raises(SMTPException) as caught:
            await SmtpBackend(settings, "wrong").send("no-reply@rowgate.test", "a@example.com", message())
    assert not is_permanent(caught.value)  # an operator can fix the password; keep the mail
    assert sink.received == []


def test_the_smtp_password_comes_from_the_environment_or_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text("from-file\n")
    assert smtp_password({"ROWGATE_SMTP_PASSWORD_FILE": str(secret)}) == "from-file"
    assert smtp_password({"ROWGATE_SMTP_PASSWORD": "inline"}) == "inline"
    assert smtp_password({}) is None
    with pytest.raises(ConfigError):
        smtp_password({"ROWGATE_SMTP_PASSWORD": "a", "ROWGATE_SMTP_PASSWORD_FILE": str(secret)})
    with pytest.raises(ConfigError, match="ROWGATE_SMTP_PASSWORD is not"):
        SmtpBackend(SmtpSettings(username="rowgate"), None)


@pytest.fixture
async def database(migrated_database: str) -> AsyncIterator[Database]:
    from rowgate.config.schema import DatabaseSettings

    db = await Database.connect(migrated_database, DatabaseSettings())
    yield db
    await db.close()


def mail_settings(port: int, schedule: tuple[str, ...] = ("100ms", "100ms")) -> MailSettings:
    return MailSettings.model_validate(
        {"smtp": {"port": port, "security": "none"}, "retry_schedule": schedule, "poll_interval": "50ms"}
    )


async def queue(db: Database, mailer: Mailer, to: str) -> None:
    async with db.transaction() as conn:
        await mailer.queue(
            conn, "verify_email", to, {"link": "https://x.test/?token=abc", "lifetime": "1 day"}
        )
    mailer.wake()


async def test_a_failed_send_is_retried_until_the_server_is_back(database: Database) -> None:
    port = free_port()
    settings = mail_settings(port, ("100ms", "100ms", "100ms", "100ms"))
    mailer = Mailer(settings)
    sender = MailSender(database, mailer, SmtpBackend(settings.smtp, None), settings)
    await queue(database, mailer, "a@example.com")
    assert await sender.run_once() == 1  # nobody listens: the attempt fails
    row = await database.fetchrow("SELECT attempts, last_error, sent_at, message FROM rowgate.mail_outbox")
    assert row is not None
    assert (row["attempts"], row["sent_at"]) == (1, None)
    assert row["last_error"]
    assert row["message"] is not None
    with smtp_server(port) as (sink, _):
        sender.start()
        try:
            await wait_for(sink)
            # The server has the message; the sender records it as sent just after.
            async with asyncio.timeout(30):
                while not await database.fetchval(
                    "SELECT bool_and(sent_at IS NOT NULL) FROM rowgate.mail_outbox"
                ):
                    await asyncio.sleep(0.02)
        finally:
            await sender.stop()
    row = await database.fetchrow("SELECT attempts, sent_at, message FROM rowgate.mail_outbox")
    assert row is not None
    assert row["sent_at"] is not None
    assert row["message"] is None  # the body (with its link) is dropped once sent
    assert row["attempts"] >= 2


async def test_a_permanent_refusal_is_given_up_without_retrying(database: Database) -> None:
    with smtp_server() as (sink, port):
        sink.refuse.add("gone@example.com")
        settings = mail_settings(port)
        mailer = Mailer(settings)
        sender = MailSender(database, mailer, SmtpBackend(settings.smtp, None), settings)
        await queue(database, mailer, "gone@example.com")
        await sender.run_once()
    row = await database.fetchrow("SELECT attempts, failed_at, message, last_error FROM rowgate.mail_outbox")
    assert row is not None
    assert row["attempts"] == 1
    assert row["failed_at"] is not None
    assert row["message"] is None
    assert "550" in row["last_error"]


async def test_the_schedule_ends_in_giving_up(database: Database) -> None:
    settings = mail_settings(free_port(), ("10ms",))
    mailer = Mailer(settings)
    sender = MailSender(database, mailer, SmtpBackend(settings.smtp, None), settings)
    await queue(database, mailer, "a@example.com")
    await sender.run_once()
    await asyncio.sleep(0.05)
    await sender.run_once()
    row = await database.fetchrow("SELECT attempts, failed_at FROM rowgate.mail_outbox")
    assert row is not None
    assert row["attempts"] == 2
    assert row["failed_at"] is not None


async def test_two_senders_never_send_one_message_twice(database: Database) -> None:
    with smtp_server() as (sink, port):
        settings = mail_settings(port)
        mailer = Mailer(settings)
        senders = [MailSender(database, mailer, SmtpBackend(settings.smtp, None), settings) for _ in range(2)]
        for n in range(20):
            await queue(database, mailer, f"u{n}@example.com")
        await asyncio.gather(*(s.run_once() for s in senders))
    assert sorted(r.recipients[0] for r in sink.received) == sorted(f"u{n}@example.com" for n in range(20))


async def test_with_smtp_down_requests_are_answered_and_the_mail_follows(
    make_settings: SettingsFactory, start_rowgate: Start, http: aiohttp.ClientSession
) -> None:
    port = free_port()
    settings = make_settings(
        **FAST,
        **{
            "mail.backend": "smtp",
            "mail.smtp": {"port": port, "security": "none"},
            "mail.retry_schedule": ["200ms", "200ms", "200ms", "500ms", "1s", "1s"],
            "auth.require_email_verification": True,
        },
    )
    api = Api(http, await start_rowgate(settings))
    signup = await api.signup("a@example.com")
    assert signup.status == 202
    reset = await api.call("POST", "/password/reset/request", {"email": "a@example.com"})
    assert reset.status == 202
    db = api.server.app[SERVICES].db
    async with asyncio.timeout(30):  # generous: a busy machine is slow, not wrong
        while not await db.fetchval("SELECT bool_and(attempts > 0) FROM rowgate.mail_outbox"):
            await asyncio.sleep(0.05)
    pending = await db.fetch("SELECT message, last_error FROM rowgate.mail_outbox")
    assert len(pending) == 2
    assert all(p["last_error"] for p in pending)
    assert not any(b"token=" in p["message"] for p in pending)  # sealed with the master key at rest
    with smtp_server(port) as (sink, _):
        await wait_for(sink, 2)
    subjects = sorted(str(r.message["Subject"]) for r in sink.received)
    assert subjects == ["Confirm your email address for rowgate", "Reset your rowgate password"]
    assert (await api.signin("a@example.com", PASSWORD)).code == "email_not_verified"


def test_retry_schedule_parses_durations() -> None:
    assert mail_settings(25, ("1m", "1h")).retry_schedule == (timedelta(minutes=1), timedelta(hours=1))
