"""Sessions in a chosen organisation, opened the way the identity flows open them.

Switch-org and an accepted invitation sign the user in to an organisation: a session row with its
device and client IP, its first refresh token (stored as a digest), and a full token set (access,
refresh and ID tokens) whose access token carries that organisation and the role held there.  The
session keeps the authentication methods (``amr``) of the session the user came from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from rowgate.auth.audit import ClientContext
from rowgate.auth.device import device_label
from rowgate.auth.flows.identity import Identity
from rowgate.auth.flows.issuing import Grant, issue
from rowgate.auth.opaque import digest, new_token
from rowgate.auth.repo import sessions, users
from rowgate.errors import Unauthorized


class IdentitySessions:
    def __init__(self, identity: Identity) -> None:
        self._identity = identity

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
        user = await users.by_id(conn, user_id)
        if user is None:
            raise Unauthorized("This account no longer exists.", code="account_deleted")
        lifetime = self._identity.settings.tokens.refresh_ttl
        session = await sessions.create(
            conn,
            user_id=user.id,
            org_id=org_id,
            device=device_label(client.user_agent),
            ip=client.ip,
            amr=tuple(amr) or ("pwd",),
            lifetime=lifetime,
        )
        refresh = new_token()
        await sessions.issue_refresh(conn, session.id, digest(refresh), lifetime)
        grant = Grant(
            user_id=user.id,
            session_id=session.id,
            email=user.email,
            email_verified=user.email_verified,
            name=user.name,
            org_id=org_id,
            role=role,
            amr=session.amr,
            authenticated_at=session.created_at,
        )
        return issue(self._identity.tokens, grant, refresh).as_json()
