"""Reading the audit trail: pages newest first, and an export of a time range.

An organisation admin reads the events of the organisation and those of its current members
that belong to no organisation (a failed sign-in, a sign-out): what happened to the accounts
the admin is answerable for.

Pages are keyset-paginated on ``(at, id)``, newest first: the cursor carries only the position of
the last event shown, so a page never repeats or skips an event (equal timestamps included: ``id``
breaks the tie), and a cursor cannot widen what its holder may read: the scope (one organisation,
or all for a platform operator) and the filters come from the request every time.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from rowgate.auth import audit
from rowgate.auth.admin.queries import (
    FAILURE_SQL,
    AuditFilter,
    Outcome,
    bad_cursor,
    decode_cursor,
    encode_cursor,
    outcome_of,
)
from rowgate.auth.db import Database
from rowgate.auth.orgs.seams import SignedIn
from rowgate.auth.sessions.device import device_label

#: Events read per round trip while exporting.
EXPORT_BATCH = 500


@dataclass(frozen=True, slots=True)
class AuditEvent:
    id: int
    at: datetime
    event: str
    outcome: Outcome
    user_id: str | None
    org_id: str | None
    session_id: str | None
    ip: str | None
    user_agent: str | None
    #: A readable label of ``user_agent`` (``Firefox on Linux``).
    device: str | None
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AuditPage:
    events: list[AuditEvent]
    #: Where the next page starts (opaque to clients); ``None`` on the last page.
    next: str | None
    #: Where the page before this one ends, read with ``newer``; ``None`` on the first page (the
    #: API pages forward only and leaves it unset).
    previous: str | None = None


#: A position in the trail and the side of it to read: older (``<``) or newer (``>``) events.
Position = tuple[datetime, int]


#: Who may read what: one organisation's events, or (``None``) every organisation's.
Scope = str | None

_SELECT = """
SELECT id, at, event, user_id::text, org_id::text, session_id::text, ip, user_agent, details::text
FROM rowgate.audit_events
"""


def where(
    scope: Scope, found: AuditFilter, after: Position | None, *, newer: bool = False
) -> tuple[str, list[Any]]:
    """The WHERE clause and its parameters for ``found`` within ``scope``, after a position
    (older than it, or with ``newer`` the events newer than it)."""
    conditions: list[str] = []
    args: list[Any] = []

    def add(condition: str, *values: Any) -> None:
        """``{}`` in ``condition`` numbers its parameters in turn; ``{0}`` repeats the first."""
        args.extend(values)
        conditions.append(condition.format(*range(len(args) - len(values) + 1, len(args) + 1)))

    if scope is not None:  # the organisation's events, and its members' own (a failed sign-in)
        add(
            "(org_id = ${0}::uuid OR (org_id IS NULL AND user_id IN "
            "(SELECT user_id FROM rowgate.memberships WHERE org_id = ${0}::uuid)))",
            scope,
        )
    if found.user_id is not None:
        add("user_id = ${}::uuid", found.user_id)
    if found.event is not None:
        add("starts_with(event, ${})", found.event)
    if found.outcome is not None:
        negate = "" if found.outcome == "failure" else "NOT "
        add(negate + "(event ~ ${})", FAILURE_SQL)
    if found.ip is not None:
        add("ip = ${}", found.ip)
    if found.since is not None:
        add("at >= ${}", found.since)
    if found.until is not None:
        add("at < ${}", found.until)
    if after is not None:
        add("(at, id) > (${}, ${})" if newer else "(at, id) < (${}, ${})", *after)
    return (" WHERE " + " AND ".join(conditions)) if conditions else "", args


async def read(
    conn: asyncpg.Connection,
    scope: Scope,
    found: AuditFilter,
    limit: int,
    after: Position | None,
    *,
    newer: bool = False,
) -> list[AuditEvent]:
    """Up to ``limit`` events past ``after``, newest first (with ``newer``: the ``limit`` events
    just newer than ``after``, still answered newest first)."""
    clause, args = where(scope, found, after, newer=newer)
    order = "ASC" if newer else "DESC"
    rows = await conn.fetch(
        f"{_SELECT}{clause} ORDER BY at {order}, id {order} LIMIT ${len(args) + 1}", *args, limit
    )
    events = [_event(row) for row in rows]
    return events[::-1] if newer else events


def _event(row: asyncpg.Record) -> AuditEvent:
    event, agent = str(row["event"]), row["user_agent"]
    return AuditEvent(
        id=int(row["id"]),
        at=row["at"],
        event=event,
        outcome=outcome_of(event),
        user_id=row["user_id"],
        org_id=row["org_id"],
        session_id=row["session_id"],
        ip=row["ip"] or None,
        user_agent=agent,
        device=device_label(agent) if agent else None,
        details=json.loads(row["details"]),
    )


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _at(event: AuditEvent) -> Position:
    return event.at, event.id


def cursor_of(event: AuditEvent) -> str:
    return encode_cursor(event.at.isoformat(), str(event.id))


def position(cursor: str) -> tuple[datetime, int]:
    """The position a cursor made by ``cursor_of`` names; 400 for anything else."""
    at, event_id = decode_cursor(cursor, 2)
    try:
        when = datetime.fromisoformat(at)
    except ValueError:
        raise bad_cursor() from None
    if when.tzinfo is None or not (event_id.isascii() and event_id.isdigit()) or len(event_id) > 19:
        raise bad_cursor()
    return when, int(event_id)


class AuditLog:
    """The audit trail as organisation admins and platform operators read it."""

    def __init__(self, db: Database, operators: tuple[str, ...]) -> None:
        self._db = db
        self._operators = frozenset(operators)

    async def is_operator(self, user_id: str) -> bool:
        """Named in ``audit.operators`` by id, or by an email address the user has verified."""
        if not self._operators:
            return False
        if user_id in self._operators:
            return True
        email = await self._db.fetchval(
            "SELECT lower(email) FROM rowgate.users WHERE id = $1 AND email_verified_at IS NOT NULL", user_id
        )
        return email is not None and email in self._operators

    async def page(self, scope: Scope, found: AuditFilter, limit: int, cursor: str | None) -> AuditPage:
        """One page of events, newest first; ``cursor`` is the ``next`` of the previous page."""
        after = position(cursor) if cursor is not None else None
        async with self._db.connection() as conn:
            events = await read(conn, scope, found, limit + 1, after)
        shown = events[:limit]
        return AuditPage(shown, cursor_of(shown[-1]) if len(events) > limit else None)

    async def browse(
        self, scope: Scope, found: AuditFilter, limit: int, older: str | None, newer: str | None
    ) -> AuditPage:
        """A page for reading both ways: the events older than ``older``, or those just newer
        than ``newer`` (at most one of them), or the newest; ``next`` and ``previous`` are set
        when there are events on that side."""
        start = position(newer) if newer is not None else position(older) if older is not None else None
        async with self._db.connection() as conn:
            events = await read(conn, scope, found, limit + 1, start, newer=newer is not None)
            if newer is not None:
                shown, more_newer = events[-limit:], len(events) > limit
                more_older = bool(shown) and bool(await read(conn, scope, found, 1, _at(shown[-1])))
            else:
                shown, more_older = events[:limit], len(events) > limit
                more_newer = bool(shown) and bool(
                    await read(conn, scope, found, 1, _at(shown[0]), newer=True)
                )
        return AuditPage(
            shown,
            cursor_of(shown[-1]) if more_older else None,
            cursor_of(shown[0]) if more_newer else None,
        )

    async def note_export(self, who: SignedIn, scope: Scope, found: AuditFilter) -> None:
        """Record that ``who`` exported the events of ``scope`` (an export is worth knowing of)."""
        window = {"from": _iso(found.since), "to": _iso(found.until), "all": scope is None}
        async with self._db.connection() as conn:
            await audit.record(
                conn,
                "audit.exported",
                who.client,
                user_id=who.user_id,
                org_id=scope,
                session_id=who.session_id,
                details=window,
            )

    async def export(self, scope: Scope, found: AuditFilter) -> AsyncIterator[AuditEvent]:
        """Every event matching ``found``, newest first, read a batch at a time (no long transaction)."""
        after: tuple[datetime, int] | None = None
        while True:
            async with self._db.connection() as conn:
                events = await read(conn, scope, found, EXPORT_BATCH, after)
            for event in events:
                yield event
            if len(events) < EXPORT_BATCH:
                return
            after = (events[-1].at, events[-1].id)
