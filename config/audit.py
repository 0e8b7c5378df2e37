"""The ``audit`` section: how long the audit trail is kept, and who may read all of it."""

from __future__ import annotations

import uuid
from datetime import timedelta

from pydantic import field_validator

from rowgate.config.model import Model
from rowgate.config.units import Duration


class AuditSettings(Model):
    #: How long audit events are kept; the janitor deletes older ones (``auth.purge_interval``).
    retention: Duration = timedelta(days=365)
    #: Platform operators: user ids, or verified email addresses, of the accounts that may read
    #: every organisation's events on ``GET /v1/admin/audit``.  Organisation admins read only
    #: their own organisation's; nobody becomes an operator through a role an admin can grant.
    operators: tuple[str, ...] = ()

    @field_validator("operators")
    @classmethod
    def _operators(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_operator(value) for value in values)

    @field_validator("retention")
    @classmethod
    def _retention(cls, value: timedelta) -> timedelta:
        if value < timedelta(days=1):
            raise ValueError(f"expected at least 1d, got {value}")
        return value


def _operator(value: str) -> str:
    text = value.strip()
    try:
        return str(uuid.UUID(text))
    except ValueError:
        pass
    if "@" not in text or any(ch.isspace() for ch in text):
        raise ValueError(f"expected a user id (UUID) or an email address, got {value!r}")
    return text.lower()
