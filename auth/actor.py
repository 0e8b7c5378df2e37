"""Who acts on rowgate's own tenancy endpoints: a signed-in member in their active organisation.

Handlers build an ``Actor`` from the request's ``Principal``; the tenancy services take it and
confine every read and write to ``actor.org_id``.  Services check ``admin`` themselves as well
(defence in depth: a handler that forgot to is still refused).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from rowgate.auth import audit
from rowgate.auth.audit import ClientContext
from rowgate.errors import Forbidden


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: str
    org_id: str
    role: str | None
    #: The actor's current permissions in ``org_id`` (canonical).
    permissions: frozenset[str]
    #: True when ``role`` is an admin role (``rbac.admin_roles``).
    admin: bool
    session_id: str | None
    client: ClientContext

    def require_admin(self) -> None:
        if not self.admin:
            raise Forbidden("Only organisation admins may do this.", code="admin_required")

    async def audit(self, conn: asyncpg.Connection, event: str, details: dict[str, Any]) -> None:
        """Record ``event`` in the audit trail as done by this actor, in the caller's transaction."""
        await audit.record(
            conn,
            event,
            self.client,
            user_id=self.user_id,
            org_id=self.org_id,
            session_id=self.session_id,
            details=details,
        )
