"""What every identity flow needs, opened once at start-up, and small helpers they share."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from rowgate.auth.db import Database
from rowgate.auth.email_address import InvalidEmail, normalize_email
from rowgate.auth.guards.lockout import Lockout
from rowgate.auth.guards.ratelimit import RateLimiter
from rowgate.auth.mail.links import Links
from rowgate.auth.mail.outbox import Mailer
from rowgate.auth.mfa.service import MfaService
from rowgate.auth.passwords.hashing import PasswordHasher
from rowgate.auth.passwords.policy import PasswordPolicy
from rowgate.auth.sessions.opener import SessionOpener
from rowgate.auth.sessions.revocation import RevocationList
from rowgate.auth.store import EphemeralStore
from rowgate.auth.tokens.opaque import MAX_TOKEN_LENGTH
from rowgate.auth.tokens.service import TokenService
from rowgate.config.identity import AuthSettings
from rowgate.config.schema import Settings
from rowgate.errors import ValidationFailed


@dataclass(frozen=True)
class Guards:
    """Rate limits (per client IP, and mails per address) and lockouts (per account and IP)."""

    signin: RateLimiter
    signup: RateLimiter
    reset_request: RateLimiter
    verify_resend: RateLimiter
    mail_per_address: RateLimiter
    magic_link: RateLimiter
    account: Lockout
    ip: Lockout

    @classmethod
    def build(cls, store: EphemeralStore, auth: AuthSettings) -> Guards:
        limits = auth.rate_limits
        return cls(
            signin=RateLimiter(store, "signin", limits.signin),
            signup=RateLimiter(store, "signup", limits.signup),
            reset_request=RateLimiter(store, "reset", limits.reset_request),
            verify_resend=RateLimiter(store, "resend", limits.verify_resend),
            mail_per_address=RateLimiter(store, "mail", limits.mail_per_address),
            magic_link=RateLimiter(store, "magic", limits.magic_link),
            account=Lockout(store, "account", auth.lockout.account, code="account_locked"),
            ip=Lockout(store, "ip", auth.lockout.ip, code="too_many_failures"),
        )


@dataclass(frozen=True)
class Identity:
    settings: Settings
    db: Database
    hasher: PasswordHasher
    policy: PasswordPolicy
    tokens: TokenService
    revocations: RevocationList
    mailer: Mailer
    guards: Guards
    #: The links the mails carry (the HTTP layer builds them).
    links: Links
    mfa: MfaService

    @cached_property
    def sessions(self) -> SessionOpener:
        """Opens sessions: sign-in and signup here, switch-org and invitations in ``auth.orgs``."""
        return SessionOpener(self.tokens, self.settings.tokens.refresh_ttl, self.settings.rbac.admin_roles)


def email_or_422(raw: str, field: str = "email") -> str:
    """The normalised address, or 422 ``invalid_email`` naming the field and the reason."""
    try:
        return normalize_email(raw)
    except InvalidEmail as exc:
        raise ValidationFailed(
            f"Invalid email address: {exc}.",
            code="invalid_email",
            errors=[{"field": field, "code": "invalid_email", "message": str(exc)}],
        ) from None


def plausible_token(token: str) -> bool:
    """False for strings that cannot be one of our tokens (spares a database round trip)."""
    return 0 < len(token) <= MAX_TOKEN_LENGTH
