"""Reading alerts back: the ``alert.<rule>`` audit events of a scope, with their webhook deliveries.

An alert is an audit event (``dispatch``), so it is read like any other, through the audit log's
scope (one organisation and its members' own events, or everything for a platform operator).  Its
webhooks are the outbox rows whose body names the alert's id; mail is queued with the alert but
the mail outbox does not say which alert a message belongs to, so it is not shown per alert.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

import asyncpg

from rowgate.auth.admin.audit_log import AuditEvent
from rowgate.auth.alerts.dispatch import WORDING
from rowgate.auth.db import Database
from rowgate.errors import BadRequest

#: The rules an alert can come from, in the order the dashboard offers them.
KINDS = tuple(WORDING)
PREFIX = "alert."

DeliveryState = Literal["sent", "failed", "retrying", "queued"]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One webhook of an alert: where it goes (scheme and host only) and how far it got."""

    target: str
    state: DeliveryState
    attempts: int
    #: When it was sent, given up, or is tried next.
    at: datetime
    last_error: str | None


@dataclass(frozen=True, slots=True)
class AlertView:
    event: AuditEvent
    kind: str
    title: str
    webhooks: tuple[Delivery, ...]


def kind(text: str | None) -> str | None:
    """The ``kind`` filter: one of ``KINDS`` or nothing; 400 for anything else."""
    if not text:
        return None
    if text not in KINDS:
        raise BadRequest(
            f"kind: expected one of {', '.join(KINDS)}, got {text[:40]!r}", code="invalid_alert_kind"
        )
    return text


def event_prefix(found: str | None) -> str:
    """The audit ``event`` filter that reads alerts of one kind (or every alert)."""
    return PREFIX + found if found else PREFIX


DELIVERIES = """
SELECT (body::jsonb ->> 'id')::bigint AS alert_id, url, attempts, sent_at, failed_at,
       next_attempt_at, last_error
FROM rowgate.webhook_outbox
WHERE (body::jsonb ->> 'id')::bigint = ANY($1::bigint[])
ORDER BY id
"""


async def deliveries(db: Database, alert_ids: list[int]) -> dict[int, list[Delivery]]:
    """The webhook deliveries of each alert, by alert id."""
    found: dict[int, list[Delivery]] = {}
    if not alert_ids:
        return found
    for row in await db.fetch(DELIVERIES, alert_ids):
        found.setdefault(int(row["alert_id"]), []).append(_delivery(row))
    return found


def _delivery(row: asyncpg.Record) -> Delivery:
    state: DeliveryState
    if row["sent_at"] is not None:
        state, when = "sent", row["sent_at"]
    elif row["failed_at"] is not None:
        state, when = "failed", row["failed_at"]
    else:
        state, when = ("retrying" if row["attempts"] else "queued"), row["next_attempt_at"]
    return Delivery(_target(str(row["url"])), state, int(row["attempts"]), when, row["last_error"])


def _target(url: str) -> str:
    # Only where it goes: a webhook URL may carry a token in its path or query.
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")


def views(events: list[AuditEvent], sent: dict[int, list[Delivery]]) -> list[AlertView]:
    """The alerts among ``events``, with their titles and deliveries."""
    shown = []
    for event in events:
        rule = event.event.removeprefix(PREFIX)
        title = WORDING[rule][0] if rule in WORDING else rule
        shown.append(AlertView(event, rule, title, tuple(sent.get(event.id, ()))))
    return shown


def summary(details: dict[str, object]) -> str:
    """The alert's facts in one line (``details`` of the event, the event id left out)."""
    return ", ".join(f"{key}: {json.dumps(value)}" for key, value in details.items() if key != "eventId")
