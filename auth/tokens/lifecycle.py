"""The signing-key lifecycle in PostgreSQL: ``next`` → ``active`` → ``retiring`` → ``retired``.

- ``next``: published in the JWKS and accepted by every instance, but not signing.  It signs from
  ``signs_from``, at least ``tokens.publish_ahead`` (the JWKS ``max-age`` plus the leeway) after
  it was published, so every relying party that caches the JWKS has it before a token needs it.
- ``active``: signs (one per algorithm).
- ``retiring``: verifies, and stays in the JWKS, for ``tokens.retired_key_lifetime`` (the longest
  token lifetime plus the leeway) after it stopped signing: no token it signed is cut short.
- ``retired``: out of the JWKS, verifies nothing, its sealed private part erased.  The row stays
  as a record (``rowgate keys list``).

``advance`` takes every step that is due (retire, promote, and with ``tokens.rotation.every``
publish the next key); each instance calls it every ``tokens.rotation.check_interval`` under a
transaction-scoped advisory try-lock, so one instance at a time acts and the others skip.
``rotate`` and ``retire`` are the operator's commands.  Every change is an audit event
(``key.published``, ``key.rotated``, ``key.retired``) written in the same transaction.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from rowgate.auth import audit
from rowgate.auth.crypto import SecretBox
from rowgate.auth.db import Database
from rowgate.auth.tokens.keys import generate_key, private_bytes
from rowgate.config.schema import TokenSettings
from rowgate.errors import Conflict, NotFound

#: Arbitrary constant naming the signing-key lock (``pg_advisory_xact_lock`` takes a bigint).
LOCK_ID = 0x726F776B6579  # "rowkey"
#: Who the audit log names for lifecycle events: no client, the server itself.
SYSTEM = audit.ClientContext(ip="", user_agent="rowgate")
#: Who asked for a change from a client (the dashboard): where from, the user and the session.
Actor = tuple[audit.ClientContext, str, str | None]


@dataclass(frozen=True, slots=True)
class KeyChange:
    """One step a key took: ``key.published``, ``key.rotated`` or ``key.retired``."""

    event: str
    kid: str
    algorithm: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class KeyRow:
    """One row of ``rowgate.signing_keys`` as ``rowgate keys list`` shows it."""

    kid: str
    algorithm: str
    state: str
    created_at: datetime
    signs_from: datetime | None
    activated_at: datetime | None
    retired_at: datetime | None


def sealing_purpose(kid: str, algorithm: str) -> bytes:
    """Associated data for a sealed signing key: it opens only as this kid and algorithm."""
    return f"signing-key:{algorithm}:{kid}".encode()


def at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


async def advance(
    db: Database, box: SecretBox, settings: TokenSettings, now: float, *, wait: bool = False
) -> list[KeyChange]:
    """Take every lifecycle step due at ``now``; [] when nothing was due or another instance acts."""
    async with db.transaction() as conn:
        if not await lock(conn, wait=wait):
            return []
        changes = [
            *await _retire_expired(conn, settings, now),
            *await _promote_due(conn, now),
            *await _publish_next(conn, box, settings, now),
        ]
        await _record(conn, changes)
        return changes


async def rotate(
    db: Database,
    box: SecretBox,
    settings: TokenSettings,
    now: float,
    algorithm: str,
    *,
    at_once: bool = False,
    by: Actor | None = None,
) -> list[KeyChange]:
    """The operator's rotation: promote a next key that is due, or publish one that signs after
    ``publish_ahead``; [] when a next key is already published and not due.

    ``at_once`` (an emergency: the key leaked) makes a new key sign now and retires every other
    key of ``algorithm``: tokens they signed stop verifying at once, and clients refresh.
    ``by``: who asked (the dashboard's operator), named in the audit events; None: the server.
    """
    async with db.transaction() as conn:
        await lock(conn, wait=True)
        if at_once:
            changes = await _replace_now(conn, box, algorithm, now)
        else:
            promoted = await _promote_due(conn, now, algorithm)
            changes = promoted or await _publish(conn, box, algorithm, now + _seconds(settings.publish_ahead))
        await _record(conn, changes, by)
        return changes


async def retire(db: Database, kid: str, now: float, *, by: Actor | None = None) -> KeyChange:
    """Retire a next or retiring key before its time (the active key must be rotated away first)."""
    async with db.transaction() as conn:
        await lock(conn, wait=True)
        row = await conn.fetchrow("SELECT algorithm, status FROM rowgate.signing_keys WHERE kid = $1", kid)
        if row is None:
            raise NotFound(f"no signing key {kid}")
        if row["status"] == "active":
            raise Conflict(f"key {kid} signs: rotate first (`rowgate keys rotate --now` in an emergency)")
        if row["status"] == "retired":
            raise Conflict(f"key {kid} is already retired")
        await _set_retired(conn, "kid = $2", now, kid)
        change = KeyChange("key.retired", kid, row["algorithm"], {"was": row["status"], "early": True})
        await _record(conn, [change], by)
        return change


async def list_keys(db: Database) -> list[KeyRow]:
    """Every key, newest first."""
    rows = await db.fetch(
        "SELECT kid, algorithm, status, created_at, signs_from, activated_at, retired_at "
        "FROM rowgate.signing_keys ORDER BY created_at DESC, kid"
    )
    return [KeyRow(*row.values()) for row in rows]


async def lock(conn: asyncpg.Connection, *, wait: bool) -> bool:
    """Take the signing-key lock for this transaction; without ``wait``, False if it is taken."""
    if wait:
        await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK_ID)
        return True
    return bool(await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", LOCK_ID))


async def insert_key(
    conn: asyncpg.Connection, box: SecretBox, algorithm: str, state: str, signs_from: float
) -> str:
    """Generate, seal and store a key in ``state`` (``next`` or ``active``); its kid."""
    key = await asyncio.to_thread(generate_key, algorithm)  # RSA-3072 takes a moment: off the loop
    public = key.public_jwk()
    await conn.execute(
        "INSERT INTO rowgate.signing_keys "
        "(kid, algorithm, public_jwk, private_key_enc, status, signs_from, activated_at) "
        "VALUES ($1, $2, $3::jsonb, $4, $5::text, $6::timestamptz, "
        "CASE WHEN $5::text = 'active' THEN $6::timestamptz END)",
        key.kid,
        algorithm,
        None if public is None else json.dumps(public),
        box.seal(private_bytes(key), sealing_purpose(key.kid, algorithm)),
        state,
        at(signs_from),
    )
    return key.kid


async def _retire_expired(conn: asyncpg.Connection, settings: TokenSettings, now: float) -> list[KeyChange]:
    horizon = now - _seconds(settings.retired_key_lifetime)
    rows = await _set_retired(conn, "status = 'retiring' AND retired_at <= $2", now, at(horizon))
    return [KeyChange("key.retired", row["kid"], row["algorithm"], {"was": "retiring"}) for row in rows]


async def _set_retired(conn: asyncpg.Connection, where: str, now: float, arg: object) -> list[asyncpg.Record]:
    # A retired key verifies nothing: its private part is erased (the row stays as a record).
    return list(
        await conn.fetch(
            "UPDATE rowgate.signing_keys SET status = 'retired', private_key_enc = NULL, "
            "retired_at = CASE WHEN status = 'retiring' THEN retired_at ELSE $1::timestamptz END "
            f"WHERE {where} RETURNING kid, algorithm",
            at(now),
            arg,
        )
    )


async def _promote_due(conn: asyncpg.Connection, now: float, algorithm: str | None = None) -> list[KeyChange]:
    due = await conn.fetch(
        "SELECT kid, algorithm FROM rowgate.signing_keys WHERE status = 'next' AND signs_from <= $1 "
        "AND ($2::text IS NULL OR algorithm = $2) ORDER BY kid",
        at(now),
        algorithm,
    )
    return [await _promote(conn, row["kid"], row["algorithm"], now) for row in due]


async def _promote(conn: asyncpg.Connection, kid: str, algorithm: str, now: float) -> KeyChange:
    previous = await conn.fetchval(
        "UPDATE rowgate.signing_keys SET status = 'retiring', retired_at = $2 "
        "WHERE status = 'active' AND algorithm = $1 RETURNING kid",
        algorithm,
        at(now),
    )
    await conn.execute(
        "UPDATE rowgate.signing_keys SET status = 'active', activated_at = $2 WHERE kid = $1", kid, at(now)
    )
    return KeyChange("key.rotated", kid, algorithm, {"previous": previous})


async def _publish_next(
    conn: asyncpg.Connection, box: SecretBox, settings: TokenSettings, now: float
) -> list[KeyChange]:
    """With ``rotation.every``: publish the next key ``publish_ahead`` before the active one is due."""
    every = settings.rotation.every
    if every is None:
        return []
    row = await conn.fetchrow(
        "SELECT activated_at, EXISTS (SELECT 1 FROM rowgate.signing_keys n "
        "WHERE n.status = 'next' AND n.algorithm = $1) AS pending "
        "FROM rowgate.signing_keys WHERE status = 'active' AND algorithm = $1",
        settings.algorithm,
    )
    if row is None or row["pending"]:
        return []
    due = (row["activated_at"] or at(now)).timestamp() + _seconds(every)
    if now < due - _seconds(settings.publish_ahead):
        return []
    return await _publish(conn, box, settings.algorithm, max(due, now + _seconds(settings.publish_ahead)))


async def _publish(
    conn: asyncpg.Connection, box: SecretBox, algorithm: str, signs_from: float
) -> list[KeyChange]:
    pending = await conn.fetchval(
        "SELECT kid FROM rowgate.signing_keys WHERE status = 'next' AND algorithm = $1", algorithm
    )
    if pending is not None:
        return []
    kid = await insert_key(conn, box, algorithm, "next", signs_from)
    return [KeyChange("key.published", kid, algorithm, {"signsFrom": at(signs_from).isoformat()})]


async def _replace_now(
    conn: asyncpg.Connection, box: SecretBox, algorithm: str, now: float
) -> list[KeyChange]:
    rows = await _set_retired(
        conn, "status IN ('next', 'active', 'retiring') AND algorithm = $2", now, algorithm
    )
    retired = [KeyChange("key.retired", r["kid"], algorithm, {"reason": "rotated at once"}) for r in rows]
    kid = await insert_key(conn, box, algorithm, "active", now)
    previous = [change.kid for change in retired]
    return [*retired, KeyChange("key.rotated", kid, algorithm, {"retired": previous, "atOnce": True})]


async def _record(conn: asyncpg.Connection, changes: list[KeyChange], by: Actor | None = None) -> None:
    client, user_id, session_id = (SYSTEM, None, None) if by is None else by
    for change in changes:
        details = {"kid": change.kid, "algorithm": change.algorithm, **change.details}
        await audit.record(
            conn, change.event, client, user_id=user_id, session_id=session_id, details=details
        )


def _seconds(duration: timedelta) -> float:
    return duration.total_seconds()
