"""The audit trail: every auth event as a row of ``rowgate.audit_events``.

An event names what happened (``signin.succeeded``, ``session.revoked``, ...), who it concerns
(user, organisation, session), and where it came from (client IP, user agent).  ``details`` holds
small non-secret facts (a reason, a count).  Passwords, tokens and codes never reach this table:
``record`` refuses detail keys that look like one, so a careless caller fails in tests rather
than leaking in production.

Events are written on the caller's connection, so they commit or roll back with the change they
describe.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from rowgate.auth import telemetry
from rowgate.auth.db import Database

#: Keys that must never appear in ``details``.
_SECRET_WORDS = ("password", "token", "secret", "code")
#: Longest user agent kept.
MAX_USER_AGENT = 512


@dataclass(frozen=True, slots=True)
class ClientContext:
    """Where a request came from: the client IP (from trusted proxies only) and its user agent."""

    ip: str
    user_agent: str = ""

    @classmethod
    def of(cls, ip: str, user_agent: str | None) -> ClientContext:
        return cls(ip=ip, user_agent=(user_agent or "")[:MAX_USER_AGENT])


#: Where rowgate's own events come from (a policy reload): no client.
SYSTEM = ClientContext(ip="")


async def record(
    conn: asyncpg.Connection,
    event: str,
    client: ClientContext,
    *,
    user_id: str | None = None,
    org_id: str | None = None,
    session_id: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Write one audit event on ``conn`` (inside the caller's transaction)."""
    await conn.execute(INSERT, *event_args(event, client, user_id, org_id, session_id, details))
    telemetry.count_event(event)


INSERT = """
INSERT INTO rowgate.audit_events (event, user_id, org_id, session_id, ip, user_agent, details)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
"""


def event_args(
    event: str,
    client: ClientContext,
    user_id: str | None,
    org_id: str | None,
    session_id: str | None,
    details: Mapping[str, Any] | None,
) -> tuple[Any, ...]:
    """The parameters of ``INSERT`` for one event (for callers that batch or embed it)."""
    safe = dict(details or {})
    leaked = [key for key in safe if any(word in key.lower() for word in _SECRET_WORDS)]
    if leaked:
        raise ValueError(f"audit details must not hold secrets: {leaked}")
    return (event, user_id, org_id, session_id, client.ip, client.user_agent, json.dumps(safe))


def recorder(db: Database) -> Callable[[str, Mapping[str, Any]], Awaitable[None]]:
    """Records rowgate's own events (no client, no user) on a connection of their own."""

    async def write(event: str, details: Mapping[str, Any]) -> None:
        async with db.connection() as conn:
            await record(conn, event, SYSTEM, details=details)

    return write
