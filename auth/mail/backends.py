"""Where mail goes: an SMTP server (aiosmtplib), or ``.eml`` files for development.

A backend's ``send`` returns when the message was accepted, and raises otherwise; the sender
decides from the exception whether to retry (``is_permanent``).  The SMTP password is read from
``ROWGATE_SMTP_PASSWORD`` or the file named by ``ROWGATE_SMTP_PASSWORD_FILE``, never from YAML.
"""

from __future__ import annotations

import logging
import os
import re
import ssl
import time
from collections.abc import Mapping
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import aiosmtplib

from rowgate.config.identity import SmtpSettings
from rowgate.errors import ConfigError

log = logging.getLogger("rowgate.mail")

PASSWORD_ENV = "ROWGATE_SMTP_PASSWORD"  # noqa: S105 (the name of the variable)
PASSWORD_FILE_ENV = "ROWGATE_SMTP_PASSWORD_FILE"  # noqa: S105
_URL = re.compile(r"https?://\S+")


class MailBackend(Protocol):
    async def send(self, sender: str, recipient: str, message: bytes) -> None:
        """Deliver ``message``; raise when it was not accepted."""
        ...


def is_permanent(error: BaseException) -> bool:
    """True when retrying cannot help: the server refused for good (a 5xx reply)."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return all(500 <= refusal.code < 600 for refusal in error.recipients)
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return 500 <= error.code < 600 and not isinstance(error, aiosmtplib.SMTPAuthenticationError)
    return False


def smtp_password(environ: Mapping[str, str] | None = None) -> str | None:
    """The SMTP password from the environment (or a file it names); None when not given."""
    env = os.environ if environ is None else environ
    inline, file = env.get(PASSWORD_ENV, ""), env.get(PASSWORD_FILE_ENV, "")
    if inline and file:
        raise ConfigError([f"{PASSWORD_ENV} and {PASSWORD_FILE_ENV} are both set; set only one of them"])
    if file:
        try:
            return Path(file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                [f"{PASSWORD_FILE_ENV} ({file}): cannot read it ({type(exc).__name__})"]
            ) from exc
    return inline or None


class SmtpBackend:
    """Deliver through an SMTP server with the configured TLS mode."""

    def __init__(self, settings: SmtpSettings, password: str | None) -> None:
        if settings.username and not password:
            raise ConfigError([f"mail.smtp.username is set but {PASSWORD_ENV} is not"])
        self._settings = settings
        self._password = password
        self._tls = ssl.create_default_context()
        if not settings.verify_certificates:
            self._tls.check_hostname = False
            self._tls.verify_mode = ssl.CERT_NONE

    async def send(self, sender: str, recipient: str, message: bytes) -> None:
        smtp = self._settings
        await aiosmtplib.send(
            message,
            sender=sender,
            recipients=[recipient],
            mail_options=None if f"{sender}{recipient}".isascii() else ["SMTPUTF8"],
            hostname=smtp.host,
            port=smtp.port,
            username=smtp.username,
            password=self._password if smtp.username else None,
            use_tls=smtp.security == "tls",
            start_tls=smtp.security == "starttls",
            tls_context=self._tls,
            timeout=smtp.timeout.total_seconds(),
        )


class FileBackend:
    """Write each message as an ``.eml`` file into ``folder``; in dev mode also log its links."""

    def __init__(self, folder: Path, *, log_links: bool) -> None:
        self.folder = folder
        self._log_links = log_links

    async def send(self, sender: str, recipient: str, message: bytes) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{time.monotonic_ns()}.eml"
        path = self.folder / name
        path.write_bytes(message)
        path.chmod(0o600)
        parsed = message_from_bytes(message, policy=policy.default)
        subject = str(parsed.get("Subject", ""))
        log.info("mail to %s written to %s: %s", recipient, path, subject)
        if self._log_links and isinstance(parsed, EmailMessage):
            for link in links_in(parsed):
                log.info("dev mail link for %s: %s", recipient, link)


def links_in(message: EmailMessage) -> list[str]:
    """The URLs in the plain-text part of ``message``."""
    part = message.get_body(preferencelist=("plain",))
    if part is None or not isinstance(part, EmailMessage):
        return []
    return _URL.findall(str(part.get_content()))
