"""The MFA service: enrolment steps and second-factor checks on the stored factor.

Secrets are sealed with the master key (AES-256-GCM) under a purpose naming the user, so a
sealed secret copied into another user's row does not open.  Nothing here checks passwords or
counts failures: ``auth.mfa.enrolment`` and ``auth.mfa.proof`` do, around these calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from rowgate.auth.db import Database
from rowgate.auth.mail.outbox import Sealer
from rowgate.auth.mfa import backup, repo, totp
from rowgate.auth.mfa.replay import ReplayGuard
from rowgate.errors import Conflict


@dataclass(frozen=True, slots=True)
class Enrolment:
    """A pending factor: the secret, its ``otpauth://`` URI and the URI's QR code (data URL)."""

    secret: str
    uri: str
    qr_code: str


@dataclass(frozen=True, slots=True)
class SecondFactor:
    """What the user typed as their second factor: an authenticator code or a backup code."""

    code: str | None = None
    backup_code: str | None = None


NOT_ENABLED = "Multi-factor authentication is not enabled for this account."


class MfaService:
    def __init__(
        self, db: Database, sealer: Sealer, replay: ReplayGuard, clock: Callable[[], float] = time.time
    ) -> None:
        self._db = db
        self._sealer = sealer
        self._replay = replay
        self._clock = clock

    async def enabled(self, user_id: str) -> bool:
        async with self._db.connection() as conn:
            return await repo.enabled(conn, user_id)

    async def begin(self, user_id: str, account: str, issuer: str) -> Enrolment:
        """A new pending factor (replacing a pending one); 409 when MFA is on already."""
        secret = totp.new_secret()
        async with self._db.transaction() as conn:
            current = await repo.factor(conn, user_id, lock=True)
            if current is not None and current.confirmed:
                raise Conflict("Multi-factor authentication is on already.", code="mfa_already_enabled")
            await repo.put_pending(conn, user_id, self._sealer.seal(secret.encode(), _purpose(user_id)))
        uri = totp.provisioning_uri(secret, account, issuer)
        return Enrolment(secret, uri, totp.qr_data_url(uri))

    async def confirm(self, user_id: str, code: str) -> list[str] | None:
        """Turn the pending factor on with a first valid code: the backup codes; None for a wrong code."""
        codes = backup.new_codes()
        async with self._db.transaction() as conn:
            pending = await repo.factor(conn, user_id, lock=True)
            if pending is None or pending.confirmed:
                raise Conflict(
                    "There is no enrolment to confirm: start one with /mfa/enable.", code="mfa_not_pending"
                )
            if not await self._code_matches(user_id, pending, code):
                return None
            await repo.confirm(conn, user_id)
            await repo.replace_backup_codes(conn, user_id, [backup.digest(c) for c in codes])
        return [backup.display(c) for c in codes]

    async def check(self, user_id: str, second: SecondFactor, *, backup_allowed: bool = True) -> str | None:
        """Which kind of second factor was valid (``otp`` or ``backup_code``); None when it was not."""
        async with self._db.transaction() as conn:
            factor = await repo.factor(conn, user_id)
            if factor is None or not factor.confirmed:
                return None
            if second.code is not None:
                return "otp" if await self._code_matches(user_id, factor, second.code) else None
            if second.backup_code is not None and backup_allowed:
                used = await self._use_backup_code(conn, user_id, second.backup_code)
                return "backup_code" if used else None
        return None

    async def regenerate_backup_codes(self, user_id: str) -> list[str]:
        codes = backup.new_codes()
        async with self._db.transaction() as conn:
            await repo.replace_backup_codes(conn, user_id, [backup.digest(c) for c in codes])
        return [backup.display(c) for c in codes]

    async def remove(self, conn: asyncpg.Connection, user_id: str) -> None:
        await repo.remove(conn, user_id)

    async def _code_matches(self, user_id: str, factor: repo.Factor, typed: str) -> bool:
        code = totp.normalize_code(typed)
        if code is None:
            return False
        secret = self._sealer.open(factor.sealed_secret, _purpose(user_id)).decode()
        step = totp.matching_step(secret, code, self._clock())
        return step is not None and await self._replay.claim(user_id, step)

    async def _use_backup_code(self, conn: asyncpg.Connection, user_id: str, typed: str) -> bool:
        code = backup.normalize(typed)
        return code is not None and await repo.use_backup_code(conn, user_id, backup.digest(code))


def _purpose(user_id: str) -> bytes:
    return f"mfa-totp:{user_id}".encode()
