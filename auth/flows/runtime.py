"""Opening the identity flows at start-up: hasher, mailer and sender, guards, in one place."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from rowgate.auth.db import Database
from rowgate.auth.flows.identity import Guards, Identity
from rowgate.auth.flows.janitor import Janitor
from rowgate.auth.mail.backends import FileBackend, MailBackend, SmtpBackend, smtp_password
from rowgate.auth.mail.links import Links
from rowgate.auth.mail.outbox import Mailer, Sealer, Unsealed
from rowgate.auth.mail.sender import MailSender
from rowgate.auth.mfa.replay import ReplayGuard
from rowgate.auth.mfa.service import MfaService
from rowgate.auth.passwords.hashing import PasswordHasher
from rowgate.auth.passwords.policy import PasswordPolicy, common_passwords
from rowgate.auth.sessions.revocation import RevocationList
from rowgate.auth.store import EphemeralStore
from rowgate.auth.tokens.service import TokenService
from rowgate.config.schema import Settings

log = logging.getLogger("rowgate.identity")


@dataclass(frozen=True)
class IdentityRuntime:
    identity: Identity
    sender: MailSender
    backend: MailBackend


def mail_backend(settings: Settings) -> MailBackend:
    """The configured mail backend (SMTP, or ``.eml`` files in ``<data_dir>/mail``)."""
    if settings.mail.backend == "smtp":
        return SmtpBackend(settings.mail.smtp, smtp_password())
    if settings.mode == "production":
        log.warning("mail.backend is 'file' in production: mail is written to disk, never sent")
    return FileBackend(settings.data_dir / "mail", log_links=settings.mode == "dev")


@contextlib.asynccontextmanager
async def open_identity(
    settings: Settings,
    db: Database,
    store: EphemeralStore,
    revocations: RevocationList,
    tokens: TokenService,
    links: Links,
    *,
    sealer: Sealer | None = None,
    backend: MailBackend | None = None,
    send_mail: bool = True,
) -> AsyncIterator[IdentityRuntime]:
    """The identity flows with their mail sender and janitor running (unless ``send_mail`` is False)."""
    common_passwords()  # read the list now rather than during the first signup
    hasher = PasswordHasher(settings.auth.argon2)
    mailer = Mailer(settings.mail, sealer)
    backend = backend or mail_backend(settings)
    sender = MailSender(db, mailer, backend, settings.mail)
    identity = Identity(
        settings=settings,
        db=db,
        hasher=hasher,
        policy=PasswordPolicy.from_settings(settings.auth.password),
        tokens=tokens,
        revocations=revocations,
        mailer=mailer,
        guards=Guards.build(store, settings.auth),
        links=links,
        mfa=MfaService(db, sealer or Unsealed(), ReplayGuard(db, store)),
    )
    janitor = Janitor(db, settings.auth.retention, settings.auth.purge_interval)
    if send_mail:
        sender.start()
        janitor.start()
    try:
        yield IdentityRuntime(identity, sender, backend)
    finally:
        await janitor.stop()
        await sender.stop()
        hasher.close()
