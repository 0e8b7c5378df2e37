"""What an alert becomes: an audit event ``alert.<rule>``, mail to those the rule names, webhooks.

Everything is written on the caller's connection, in the transaction that moves the cursor past
the event, so an alert is raised exactly once; the mail and webhook outboxes deliver after commit.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from rowgate.auth import audit
from rowgate.auth.alerts import webhooks
from rowgate.auth.alerts.rules import Alert
from rowgate.auth.audit import ClientContext
from rowgate.auth.mail.outbox import Mailer
from rowgate.config.alerts import AlertRule, AlertSettings

#: What the mail says of each rule: (title, summary).
WORDING = {
    "impossible_travel": (
        "sign-in from far away",
        "Your account signed in from two places too far apart to travel between in the time between.",
    ),
    "new_device": (
        "sign-in from a new device",
        "Your account signed in from a device or address not seen before.",
    ),
    "refresh_reuse": (
        "session token reused",
        "A session token was used twice, so that session was ended: someone else may hold a copy of it.",
    ),
    "failure_burst": ("many failed sign-ins", "Many sign-ins to your account failed in a short time."),
    "lockout": ("sign-ins locked", "Sign-ins were locked for a while after repeated failures."),
    "api_key_network": (
        "API key used from a new network",
        "An API key of your organisation was used from a network it was not used from before.",
    ),
}

# The admins of the event's organisation, else of every organisation the user belongs to.
ADMINS = """
SELECT DISTINCT u.email FROM rowgate.memberships a JOIN rowgate.users u ON u.id = a.user_id
WHERE a.role = ANY($3::text[]) AND a.org_id IN (
    SELECT $2::uuid WHERE $2::uuid IS NOT NULL
    UNION ALL SELECT org_id FROM rowgate.memberships WHERE user_id = $1 AND $2::uuid IS NULL
)
"""


def payload(alert: Alert, alert_id: int) -> dict[str, Any]:
    """The webhook body (camelCase, like the API)."""
    event = alert.event
    return {
        "type": f"alert.{alert.rule}",
        "id": alert_id,
        "at": event.at.isoformat(),
        "userId": event.user_id,
        "orgId": event.org_id,
        "sessionId": event.session_id,
        "ip": event.ip,
        "eventId": event.id,
        "details": dict(alert.details),
    }


async def dispatch(conn: asyncpg.Connection, alert: Alert, settings: AlertSettings, mailer: Mailer) -> None:
    event = alert.event
    client = ClientContext.of(event.ip or "", event.user_agent)
    details = {**alert.details, "eventId": event.id}
    args = audit.event_args(
        f"alert.{alert.rule}", client, event.user_id, event.org_id, event.session_id, details
    )
    alert_id = int(await conn.fetchval(audit.INSERT + " RETURNING id", *args))
    rule: AlertRule = getattr(settings, alert.rule)
    account = await _email(conn, event.user_id)
    for recipient in await _recipients(conn, rule, settings, event.user_id, event.org_id, account):
        await mailer.queue(conn, "security_alert", recipient, _mail_values(alert, account))
    if settings.webhooks:
        await webhooks.queue(conn, settings.webhooks, json.dumps(payload(alert, alert_id)))


async def _email(conn: asyncpg.Connection, user_id: str | None) -> str | None:
    if user_id is None:
        return None
    found = await conn.fetchval("SELECT email FROM rowgate.users WHERE id = $1", user_id)
    return str(found) if found is not None else None


async def _recipients(
    conn: asyncpg.Connection,
    rule: AlertRule,
    settings: AlertSettings,
    user_id: str | None,
    org_id: str | None,
    account: str | None,
) -> list[str]:
    found = [account] if "user" in rule.notify and account else []
    if "admins" in rule.notify and (user_id or org_id):
        rows = await conn.fetch(ADMINS, user_id, org_id, list(settings.admin_roles))
        found += [row["email"] for row in rows if row["email"] not in found]
    return found


def _mail_values(alert: Alert, account: str | None) -> dict[str, str]:
    title, summary = WORDING[alert.rule]
    key = alert.details.get("keyId")
    return {
        "title": title,
        "summary": summary,
        "account": account or (f"API key {key}" if key else "unknown"),
        "at": alert.event.at.strftime("%Y-%m-%d %H:%M:%S"),
        "ip": alert.event.ip or "unknown",
    }
