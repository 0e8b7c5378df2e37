"""Mail templates render into multipart messages; values are escaped in HTML."""

from __future__ import annotations

import logging
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from rowgate.auth.mail.backends import FileBackend, links_in
from rowgate.auth.mail.compose import build_message, describe_lifetime, render

TEMPLATES = ["verify_email", "reset_password", "account_exists", "password_changed"]
VALUES = {
    "product": "Acme",
    "email": "a@example.com",
    "link": "https://x.test/v?token=t&a=<b>",
    "lifetime": "1 day",
}


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_template_renders_text_and_html(name: str) -> None:
    rendered = render(name, VALUES)
    assert "Acme" in rendered.subject
    assert "$" not in rendered.text
    assert "$" not in rendered.html
    assert rendered.html.startswith("<!doctype html>")


def test_values_are_escaped_in_html_only() -> None:
    rendered = render("verify_email", VALUES)
    assert "https://x.test/v?token=t&a=<b>" in rendered.text
    assert "https://x.test/v?token=t&amp;a=&lt;b&gt;" in rendered.html


def test_a_missing_value_is_an_error() -> None:
    with pytest.raises(KeyError):
        render("verify_email", {"product": "Acme"})


def test_message_is_multipart_alternative_with_headers() -> None:
    raw = build_message(
        render("reset_password", VALUES), sender="Acme <no-reply@acme.test>", recipient="a@example.com"
    )
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message["To"] == "a@example.com"
    assert message["From"] == "Acme <no-reply@acme.test>"
    assert message.get_content_type() == "multipart/alternative"
    assert message["Message-ID"].endswith("@acme.test>")
    assert links_in(message) == ["https://x.test/v?token=t&a=<b>"]


def test_unicode_recipients_get_an_smtputf8_message() -> None:
    raw = build_message(
        render("account_exists", VALUES), sender="a@acme.test", recipient="j\u00f6rg@example.com"
    )
    assert "j\u00f6rg@example.com".encode() in raw


@pytest.mark.parametrize(
    ("lifetime", "words"),
    [
        (timedelta(minutes=30), "30 minutes"),
        (timedelta(days=1), "1 day"),
        (timedelta(hours=2), "2 hours"),
        (timedelta(minutes=1), "1 minute"),
        (timedelta(seconds=90), "2 minutes"),
    ],
)
def test_lifetimes_in_words(lifetime: timedelta, words: str) -> None:
    assert describe_lifetime(lifetime) == words


async def test_the_file_backend_logs_links_only_in_dev_mode(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    raw = build_message(render("reset_password", VALUES), sender="a@acme.test", recipient="a@example.com")
    caplog.set_level(logging.INFO, logger="rowgate.mail")
    await FileBackend(tmp_path / "dev", log_links=True).send("a@acme.test", "a@example.com", raw)
    assert "token=t" in caplog.text
    caplog.clear()
    await FileBackend(tmp_path / "prod", log_links=False).send("a@acme.test", "a@example.com", raw)
    assert "token=t" not in caplog.text
    (written,) = (tmp_path / "prod").glob("*.eml")
    assert written.stat().st_mode & 0o777 == 0o600
