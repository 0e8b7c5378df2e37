"""Managing API keys: create (the key is shown once), list, revoke, rotate with a grace period.

Only admins of the organisation manage its keys, and only its keys: every statement names the
organisation, so an id from another organisation is simply not found (404).  A key's scopes must
be covered by the permissions of the admin who creates (or rotates) it, who becomes its creator:
its later powers are capped by that member's current ones (``auth.apikeys.principal``).  A secret
key may carry its own rate limit, never more generous than ``rate_limits.max_api_key``; a rotation
keeps it unless told otherwise.  Changes are audited in the same transaction and announced after
commit, so that every instance honours them from its next request (``ApiKeyVerifier``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, Literal

import asyncpg

from rowgate.auth.actor import Actor
from rowgate.auth.apikeys.format import KeyType, NewKey, generate
from rowgate.auth.apikeys.usage import UsageCounter
from rowgate.auth.apikeys.verify import ApiKeyVerifier
from rowgate.auth.db import Database
from rowgate.auth.ids import canonical_uuid
from rowgate.auth.orgs.repo import lock_org
from rowgate.auth.rbac.custom_roles import check_grantable_by
from rowgate.auth.rbac.permissions import canonical
from rowgate.auth.sessions.repo import require_live
from rowgate.config.limits import CallerLimit
from rowgate.config.tenancy import ApiKeySettings
from rowgate.errors import Conflict, NotFound, ValidationFailed

_COLUMNS = """id::text, name, type, prefix, scopes, created_by::text, created_at, expires_at,
last_used_at, use_count, replaced_by::text, grace_until, rate_limit, rate_window"""


class Keep(Enum):
    """A rotation keeps the old key's rate limit unless given another (or None)."""

    KEEP = "keep"


@dataclass(frozen=True, slots=True)
class KeyView:
    """What the API shows of a key: never the key itself, nor its digest."""

    id: str
    name: str
    type: KeyType
    prefix: str
    scopes: tuple[str, ...]
    created_by: str | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    use_count: int
    replaced_by: str | None
    grace_until: datetime | None
    rate_limit: int | None = None
    rate_window: timedelta | None = None

    @property
    def own_rate_limit(self) -> CallerLimit | None:
        if self.rate_limit is None or self.rate_window is None:
            return None
        return CallerLimit(limit=self.rate_limit, window=self.rate_window)

    def status(self, now: datetime) -> str:
        ends = [t for t in (self.expires_at, self.grace_until) if t is not None]
        if ends and min(ends) <= now:
            return "expired"
        if self.created_by is None:
            return "inactive"  # its creator's account was deleted: the key acts as nobody
        return "rotating" if self.replaced_by else "active"


def _rate_json(limit: CallerLimit | None) -> dict[str, int] | None:
    return None if limit is None else {"limit": limit.limit, "window": limit.seconds}


def _view(row: asyncpg.Record) -> KeyView:
    values = dict(row)
    values["scopes"] = tuple(values["scopes"])
    return KeyView(**values)


@dataclass(frozen=True, slots=True)
class CreatedKey:
    view: KeyView
    key: str

    def __repr__(self) -> str:
        return f"CreatedKey(id={self.view.id!r}, prefix={self.view.prefix!r})"


class ApiKeys:
    def __init__(
        self,
        db: Database,
        verifier: ApiKeyVerifier,
        usage: UsageCounter,
        settings: ApiKeySettings,
        max_rate_limit: CallerLimit,
    ) -> None:
        self._db, self._verifier, self._usage, self._settings = db, verifier, usage, settings
        self._max_rate = max_rate_limit

    async def create(
        self,
        actor: Actor,
        *,
        name: str,
        kind: KeyType,
        scopes: Sequence[str],
        expires_at: datetime | None,
        rate_limit: CallerLimit | None = None,
    ) -> CreatedKey:
        actor.require_admin()
        granted = self._scopes(actor, kind, scopes)
        self._check_rate_limit(kind, rate_limit)
        expires_at = self._expiry(expires_at)
        new = generate(kind)
        async with self._db.transaction() as conn:
            await require_live(conn, actor.session_id)
            await lock_org(conn, actor.org_id)
            live = await conn.fetchval(
                """
                SELECT count(*) FROM rowgate.api_keys WHERE org_id = $1 AND revoked_at IS NULL
                AND coalesce(least(expires_at, grace_until), 'infinity') > now()
                """,
                actor.org_id,
            )
            if live >= self._settings.max_per_org:
                raise Conflict(
                    f"An organisation holds at most {self._settings.max_per_org} live API keys; "
                    "revoke one first.",
                    code="too_many_keys",
                )
            view = await self._insert(conn, actor, name, new, granted, expires_at, rate_limit)
            details = {"type": kind, "scopes": list(view.scopes), "rateLimit": _rate_json(rate_limit)}
            await _audit(conn, actor, "api_key.created", view, details)
        await self._verifier.created(new.digest)
        return CreatedKey(view, new.text)

    async def list(self, actor: Actor) -> list[KeyView]:
        """The organisation's keys that were not revoked, newest first (expired ones included)."""
        actor.require_admin()
        await self._usage.flush()  # this instance's counts, at least, are current
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM rowgate.api_keys WHERE org_id = $1 AND revoked_at IS NULL "
            "ORDER BY created_at DESC, id",
            actor.org_id,
        )
        return [_view(r) for r in rows]

    async def revoke(self, actor: Actor, key_id: str) -> None:
        actor.require_admin()
        key = _key_id(key_id)
        async with self._db.transaction() as conn:
            row = await conn.fetchrow(
                f"""
                UPDATE rowgate.api_keys SET revoked_at = now()
                WHERE id = $1 AND org_id = $2 AND revoked_at IS NULL RETURNING {_COLUMNS}
                """,
                key,
                actor.org_id,
            )
            if row is None:
                raise NotFound("No such API key.", code="api_key_not_found")
            await _audit(conn, actor, "api_key.revoked", _view(row), {})
        await self._verifier.forget(key)

    async def rotate(
        self,
        actor: Actor,
        key_id: str,
        grace: timedelta,
        expires_at: datetime | None = None,
        rate_limit: CallerLimit | Literal[Keep.KEEP] | None = Keep.KEEP,
    ) -> tuple[CreatedKey, KeyView]:
        """A new key replacing ``key_id``, which keeps working for ``grace``; both views.  The
        new key has the old one's rate limit unless ``rate_limit`` says otherwise."""
        actor.require_admin()
        key = _key_id(key_id)
        if grace > self._settings.max_grace_period:
            raise ValidationFailed(
                "The grace period is longer than api_keys.max_grace_period allows.",
                errors=[{"field": "gracePeriod", "message": "too long"}],
                code="grace_period_too_long",
            )
        async with self._db.transaction() as conn:
            old = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM rowgate.api_keys WHERE id = $1 AND org_id = $2 "
                "AND revoked_at IS NULL FOR UPDATE",
                key,
                actor.org_id,
            )
            if old is None:
                raise NotFound("No such API key.", code="api_key_not_found")
            previous = _view(old)
            self._check_rotatable(previous)
            granted = self._scopes(actor, previous.type, previous.scopes)
            limit = previous.own_rate_limit if rate_limit is Keep.KEEP else rate_limit
            self._check_rate_limit(previous.type, limit)
            new = generate(previous.type)
            expiry = self._expiry(expires_at if expires_at is not None else previous.expires_at)
            view = await self._insert(conn, actor, previous.name, new, granted, expiry, limit)
            row = await conn.fetchrow(
                f"""
                UPDATE rowgate.api_keys SET replaced_by = $2, grace_until = now() + $3::interval,
                    revoked_at = CASE WHEN $3::interval = interval '0' THEN now() END
                WHERE id = $1 RETURNING {_COLUMNS}
                """,
                key,
                view.id,
                grace,
            )
            assert row is not None
            previous = _view(row)
            details = {
                "newKeyId": view.id,
                "graceSeconds": int(grace.total_seconds()),
                "rateLimit": _rate_json(limit),
            }
            await _audit(conn, actor, "api_key.rotated", previous, details)
        await self._verifier.created(new.digest)
        await self._verifier.forget(key)
        return CreatedKey(view, new.text), previous

    def _check_rotatable(self, key: KeyView) -> None:
        if key.replaced_by is not None:
            raise Conflict("This key was rotated already; rotate its successor.", code="api_key_rotated")
        if key.status(datetime.now(UTC)) == "expired":
            raise Conflict("This key has expired; create a new one.", code="api_key_expired")

    def _scopes(self, actor: Actor, kind: str, scopes: Sequence[str]) -> frozenset[str]:
        granted = canonical(scopes)
        if kind == "publishable" and granted:
            raise ValidationFailed(
                "Publishable keys act as guests and carry no scopes.",
                errors=[{"field": "scopes", "message": "must be empty for a publishable key"}],
                code="publishable_key_scopes",
            )
        check_grantable_by(actor, granted)
        return granted

    def _check_rate_limit(self, kind: str, limit: CallerLimit | None) -> None:
        if limit is None:
            return
        if kind == "publishable":
            raise ValidationFailed(
                "Publishable keys act as guests: their callers are limited per IP address (rate_limits.ip).",
                errors=[{"field": "rateLimit", "message": "not for a publishable key"}],
                code="publishable_key_rate_limit",
            )
        if limit.exceeds(self._max_rate):
            ceiling = f"{self._max_rate.limit} per {self._max_rate.seconds}s"
            raise ValidationFailed(
                f"A key's rate limit may not be more generous than rate_limits.max_api_key ({ceiling}).",
                errors=[{"field": "rateLimit", "message": f"more than {ceiling}"}],
                code="rate_limit_too_high",
            )

    def _expiry(self, expires_at: datetime | None) -> datetime | None:
        now = datetime.now(UTC)
        longest = self._settings.max_lifetime
        if expires_at is None:
            return None if longest is None else now + longest
        if expires_at <= now:
            raise ValidationFailed(
                "expiresAt must be in the future.",
                errors=[{"field": "expiresAt", "message": "must be in the future"}],
            )
        if longest is not None and expires_at > now + longest:
            raise ValidationFailed(
                "expiresAt is further away than api_keys.max_lifetime allows.",
                errors=[{"field": "expiresAt", "message": "too far in the future"}],
            )
        return expires_at

    @staticmethod
    async def _insert(
        conn: asyncpg.Connection,
        actor: Actor,
        name: str,
        new: NewKey,
        scopes: frozenset[str],
        expires_at: datetime | None,
        rate_limit: CallerLimit | None,
    ) -> KeyView:
        row = await conn.fetchrow(
            f"""
            INSERT INTO rowgate.api_keys
                (org_id, created_by, name, type, prefix, digest, scopes, expires_at, rate_limit, rate_window)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {_COLUMNS}
            """,
            actor.org_id,
            actor.user_id,
            name,
            new.kind,
            new.prefix,
            new.digest,
            sorted(scopes),
            expires_at,
            None if rate_limit is None else rate_limit.limit,
            None if rate_limit is None else rate_limit.window,
        )
        assert row is not None
        return _view(row)


def _key_id(value: str) -> str:
    key = canonical_uuid(value)
    if key is None:
        raise NotFound("No such API key.", code="api_key_not_found")
    return key


async def _audit(
    conn: asyncpg.Connection, actor: Actor, event: str, key: KeyView, details: dict[str, Any]
) -> None:
    await actor.audit(conn, event, {"keyId": key.id, "name": key.name, "prefix": key.prefix, **details})
