"""Settings of the identity flows (``auth:``) and of email delivery (``mail:``).

Defaults follow the products rowgate replaces and current guidance: argon2id with OWASP's
parameters, an 8-character composition policy (``nist`` for NIST SP 800-63B), single-use tokens
with short lives, growing lockouts.  ``identity_problems`` holds the checks that span keys.
"""

from __future__ import annotations

import re
from datetime import timedelta
from email.utils import parseaddr
from typing import Literal

from pydantic import Field, field_validator

from rowgate.config.model import Model
from rowgate.config.social import MagicLinkSettings, ProviderSettings, social_problems
from rowgate.config.units import Duration

#: OWASP's argon2id configurations of equal strength: memory (KiB) needed for each time cost.
OWASP_ARGON2_MEMORY = {1: 47104, 2: 19456, 3: 12288, 4: 9216, 5: 7168}

#: Bounds of ``auth.argon2.max_wait``: below 10 ms nothing queues at all, beyond a minute clients
#: have given up long before their password is checked.
MIN_HASH_WAIT, MAX_HASH_WAIT = timedelta(milliseconds=10), timedelta(minutes=1)


class PasswordSettings(Model):
    preset: Literal["default", "nist"] = "default"
    min_length: int | None = Field(None, ge=1, le=64)
    max_length: int = Field(1024, ge=64, le=4096)
    require_upper: bool | None = None
    require_lower: bool | None = None
    require_digit: bool | None = None
    require_special: bool | None = None
    refuse_common: bool = True


Priority = Literal["idle", "low", "normal"]


class Argon2Settings(Model):
    memory_cost: int = Field(19456, ge=8, le=4 * 1024 * 1024)
    time_cost: int = Field(2, ge=1, le=100)
    parallelism: int = Field(1, ge=1, le=64)
    #: Hashes computed at once (``None``: one fewer than the CPUs available, at least one, so
    #: that a storm of sign-ins leaves the event loop a core).
    threads: int | None = Field(None, ge=1, le=256)
    #: Longest a password check may wait for a hashing thread: when the queue is longer than the
    #: pool finishes in this time (measured hash time x threads), new ones answer 503 ``busy``.
    max_wait: Duration = timedelta(seconds=1)
    priority: Priority = "idle"
    #: Replaced by ``max_wait``: still accepted so that older files start, and ignored (the
    #: hashing pool logs that it is) rather than refused as an unknown key.
    max_queue: int | None = Field(None, ge=1, le=100_000)


class RateLimit(Model):
    limit: int = Field(ge=1, le=1_000_000)
    window: Duration


class LockoutPolicy(Model):
    """Growing lockout: ``threshold`` failures lock for ``base_delay``, each later one twice as long
    up to ``max_delay``; failures are forgotten ``window`` after the first."""

    threshold: int = Field(5, ge=1, le=10_000)
    base_delay: Duration = timedelta(minutes=1)
    max_delay: Duration = timedelta(minutes=15)
    window: Duration = timedelta(days=1)


class IpLockoutPolicy(LockoutPolicy):
    threshold: int = Field(50, ge=1, le=10_000)
    max_delay: Duration = timedelta(hours=1)
    window: Duration = timedelta(hours=1)


class LockoutSettings(Model):
    account: LockoutPolicy = LockoutPolicy()
    ip: IpLockoutPolicy = IpLockoutPolicy()


class MfaSettings(Model):
    """TOTP multi-factor authentication (RFC 6238, 30-second steps, 6 digits)."""

    #: The issuer an authenticator app shows next to the account (default: ``mail.product_name``).
    issuer: str | None = Field(None, min_length=1, max_length=100)
    #: How long the ``mfaToken`` of a sign-in waiting for its second factor lives.
    challenge_ttl: Duration = timedelta(minutes=5)
    #: Sensitive operations need an MFA verification this recent (for users who have MFA).
    step_up_window: Duration = timedelta(minutes=10)


class RateLimitSettings(Model):
    signin: RateLimit = RateLimit(limit=100, window=timedelta(minutes=1))
    signup: RateLimit = RateLimit(limit=20, window=timedelta(hours=1))
    reset_request: RateLimit = RateLimit(limit=20, window=timedelta(hours=1))
    verify_resend: RateLimit = RateLimit(limit=20, window=timedelta(hours=1))
    mail_per_address: RateLimit = RateLimit(limit=5, window=timedelta(hours=1))
    #: Magic-link requests per client IP (each address also counts against ``mail_per_address``).
    magic_link: RateLimit = RateLimit(limit=20, window=timedelta(hours=1))


class AuthSettings(Model):
    #: Sign-in waits for a verified address, and signup answers alike for taken addresses.
    #: Default: on in production, off in dev (``Settings`` fills it in by mode).
    require_email_verification: bool = False
    password: PasswordSettings = PasswordSettings()
    argon2: Argon2Settings = Argon2Settings()
    verification_ttl: Duration = timedelta(days=1)
    reset_ttl: Duration = timedelta(minutes=30)
    refresh_reuse_interval: Duration = timedelta(seconds=10)
    verify_url: str | None = None
    reset_url: str | None = None
    lockout: LockoutSettings = LockoutSettings()
    rate_limits: RateLimitSettings = RateLimitSettings()
    mfa: MfaSettings = MfaSettings()
    retention: Duration = timedelta(days=7)
    magic_link: MagicLinkSettings = MagicLinkSettings()
    #: The application URLs a magic link or a social sign-in may return to (scheme, host, port
    #: and path must match one exactly; the query may differ).
    callback_urls: tuple[str, ...] = ()
    #: How long the single-use code a sign-in hands the application stays valid.
    exchange_ttl: Duration = timedelta(minutes=1)
    providers: dict[str, ProviderSettings] = {}
    purge_interval: Duration = timedelta(hours=1)

    @field_validator("verify_url", "reset_url")
    @classmethod
    def _link(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not re.match(r"^https?://[^/\s]+", value) or value.count("{token}") != 1:
            raise ValueError(
                "expected an http(s) URL holding {token} once, like "
                f"https://app.example.com/reset?t={{token}}, got {value!r}"
            )
        return value


class SmtpSettings(Model):
    host: str = "127.0.0.1"
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    verify_certificates: bool = True
    timeout: Duration = timedelta(seconds=10)


class MailSettings(Model):
    backend: Literal["file", "smtp"] = "file"
    from_address: str = "rowgate <no-reply@localhost>"
    product_name: str = Field("rowgate", min_length=1, max_length=100)
    smtp: SmtpSettings = SmtpSettings()
    retry_schedule: tuple[Duration, ...] = (
        timedelta(seconds=10),
        timedelta(minutes=1),
        timedelta(minutes=5),
        timedelta(minutes=15),
        timedelta(hours=1),
        timedelta(hours=3),
        timedelta(hours=6),
    )
    poll_interval: Duration = timedelta(seconds=5)
    batch_size: int = Field(20, ge=1, le=1000)

    @field_validator("from_address")
    @classmethod
    def _address(cls, value: str) -> str:
        _, address = parseaddr(value)
        if "@" not in address or any(c in value for c in "\r\n"):
            raise ValueError(f"expected an address like 'Acme <no-reply@acme.com>', got {value!r}")
        return value


def identity_problems(mode: str, auth: AuthSettings, mail: MailSettings) -> list[str]:
    """Checks across ``auth`` and ``mail`` keys; each problem as ``key.path: message``."""
    problems = []
    policy = auth.password
    if policy.min_length is not None and policy.min_length > policy.max_length:
        problems.append("auth.password.min_length: must not exceed auth.password.max_length")
    for name in ("account", "ip"):
        lockout: LockoutPolicy = getattr(auth.lockout, name)
        if lockout.base_delay > lockout.max_delay:
            problems.append(f"auth.lockout.{name}.base_delay: must not exceed auth.lockout.{name}.max_delay")
        if lockout.base_delay <= timedelta(0):
            problems.append(f"auth.lockout.{name}.base_delay: must be longer than zero")
    problems.extend(social_problems(auth.callback_urls, auth.providers, mode))
    for key in ("verification_ttl", "reset_ttl", "purge_interval", "exchange_ttl"):
        if getattr(auth, key) <= timedelta(0):
            problems.append(f"auth.{key}: must be longer than zero")
    if auth.magic_link.ttl <= timedelta(0):
        problems.append("auth.magic_link.ttl: must be longer than zero")
    if not MIN_HASH_WAIT <= auth.argon2.max_wait <= MAX_HASH_WAIT:
        problems.append("auth.argon2.max_wait: expected a duration from 10ms to 1m")
    if auth.refresh_reuse_interval > timedelta(minutes=1):
        problems.append(
            "auth.refresh_reuse_interval: at most 1m (longer lets a stolen token fork the session)"
        )
    if mode == "production":
        problems.extend(_production_problems(auth, mail))
    return problems


def _production_problems(auth: AuthSettings, mail: MailSettings) -> list[str]:
    problems = []
    argon2 = auth.argon2
    needed = OWASP_ARGON2_MEMORY.get(min(argon2.time_cost, 5), 0)
    if argon2.memory_cost < needed:
        problems.append(
            "auth.argon2: below OWASP's minimum (memory_cost 19456 with time_cost 2, or an equal pair: "
            + ", ".join(f"{m}/{t}" for t, m in OWASP_ARGON2_MEMORY.items())
            + ")"
        )
    if mail.backend == "smtp" and mail.smtp.security == "none" and mail.smtp.username:
        problems.append("mail.smtp.security: 'none' sends the SMTP password in clear; use starttls or tls")
    return problems
