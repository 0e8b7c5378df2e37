"""Stand-ins for the identity flows' sessions and mail outbox, used until those are wired in.

``AccessTokenSessions`` opens a session row and answers an access token for it (no refresh
token: the identity flows own refresh tokens).  ``LoggingMailer`` writes no mail: it logs that an
invitation was queued, with the link only in ``mode: dev``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from auth.audit import ClientContext
from auth.tokens import TokenService

log = logging.getLogger("rowgate.invitations")


class AccessTokenSessions:
    def __init__(self, tokens: TokenService, lifetime_seconds: float) -> None:
        self._tokens = tokens
        self._lifetime = lifetime_seconds

    async def open(
        self,
        conn: asyncpg.Connection,
        *,
        user_id: str,
        org_id: str,
        role: str,
        amr: Sequence[str],
        client: ClientContext,
    ) -> Mapping[str, Any]:
        session_id = await conn.fetchval(
            """
            INSERT INTO rowgate.sessions (user_id, org_id, ip, amr, expires_at)
            VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5)) RETURNING id::text
            """,
            user_id,
            org_id,
            client.ip,
            list(amr),
            self._lifetime,
        )
        issued = self._tokens.issue_access(sub=user_id, sid=session_id, amr=amr, org_id=org_id, role=role)
        return {
            "accessToken": issued.token,
            "tokenType": "Bearer",
            "expiresIn": issued.expires_in,
            "sessionId": session_id,
        }


class LoggingMailer:
    def __init__(self, show_links: bool) -> None:
        self._show_links = show_links

    async def queue(
        self, conn: asyncpg.Connection, template: str, recipient: str, values: Mapping[str, str]
    ) -> int:
        if self._show_links:
            log.warning("dev mode: %s mail for %s: %s", template, recipient, values.get("link"))
        else:
            log.warning("%s mail for %s not sent: no mail outbox is configured", template, recipient)
        return 0

    def wake(self) -> None:
        return None
