"""Organisations, members and signed-in sessions for the tenancy tests, straight in the database.

``Tenancy.member`` creates a user, adds them to an organisation with a role, opens a session row
and mints an access token for it with the running server's token service, so that revoking the
member's sessions (on demotion or removal) revokes that token like any real one.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp

from rowgate.proxy.appkeys import SERVICES
from tests.conftest import RunningServer


@dataclass
class Member:
    user_id: str
    email: str
    org_id: str
    role: str
    session_id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]


class Tenancy:
    def __init__(self, server: RunningServer, http: aiohttp.ClientSession) -> None:
        self.server = server
        self.http = http

    @property
    def db(self) -> Any:
        return self.server.app[SERVICES].db

    async def org(self, name: str = "Acme") -> str:
        return str(await self.db.fetchval("INSERT INTO rowgate.orgs (name) VALUES ($1) RETURNING id", name))

    async def user(self, email: str | None = None) -> tuple[str, str]:
        email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
        user_id = await self.db.fetchval(
            "INSERT INTO rowgate.users (email, email_verified_at) VALUES ($1, now()) RETURNING id", email
        )
        return str(user_id), email

    async def join(self, org_id: str, user_id: str, role: str) -> None:
        await self.db.execute(
            "INSERT INTO rowgate.memberships (org_id, user_id, role) VALUES ($1, $2, $3)",
            org_id,
            user_id,
            role,
        )

    async def sign_in(self, user_id: str, email: str, org_id: str, role: str) -> Member:
        session_id = str(
            await self.db.fetchval(
                "INSERT INTO rowgate.sessions (user_id, org_id, expires_at) "
                "VALUES ($1, $2, now() + interval '1 day') RETURNING id",
                user_id,
                org_id,
            )
        )
        token = self.server.app[SERVICES].tokens.issue_access(
            sub=user_id, sid=session_id, amr=["pwd"], org_id=org_id, role=role
        )
        return Member(user_id, email, org_id, role, session_id, token.token)

    async def member(
        self, org_id: str | None = None, role: str = "admin", email: str | None = None
    ) -> Member:
        """A signed-in member of ``org_id`` (a new organisation when None) with ``role``."""
        org_id = org_id or await self.org()
        user_id, email = await self.user(email)
        await self.join(org_id, user_id, role)
        return await self.sign_in(user_id, email, org_id, role)

    async def call(
        self,
        method: str,
        path: str,
        who: Member | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        server: RunningServer | None = None,
        data: bytes | str | None = None,
    ) -> Answer:
        base = (server or self.server).url
        sent = {**(who.headers if who else {}), **(headers or {})}
        async with self.http.request(method, base + path, json=json, headers=sent, data=data) as response:
            text = await response.text()
            body: Any = None
            if text and response.content_type.endswith("json"):
                body = await response.json(content_type=None)
            return Answer(response.status, body, dict(response.headers))

    async def audit(self, org_id: str, event: str) -> list[dict[str, Any]]:
        rows = await self.db.fetch(
            "SELECT user_id::text, details::text FROM rowgate.audit_events WHERE org_id = $1 AND event = $2 "
            "ORDER BY id",
            org_id,
            event,
        )
        return [dict(r) for r in rows]


def heard(server: RunningServer) -> tuple[int, int]:
    """How many API-key and role announcements ``server`` has received so far."""
    tenancy = server.app[SERVICES].tenancy
    return tenancy.key_verifier.heard, tenancy.catalog.heard


async def hear(server: RunningServer, before: tuple[int, int], *, keys: int = 0, roles: int = 0) -> None:
    """Wait until ``server`` has received ``keys`` and ``roles`` more announcements than ``before``.

    Announcements travel by Redis pub/sub: between processes they arrive within a round trip, before
    the client has read the answer of the change.  Here every instance shares the test's event loop,
    which may serve the next HTTP request before it reads the subscription's socket; waiting for the
    announcement keeps the tests about what happens once it is heard, not about loop scheduling.
    """
    for _ in range(500):
        now = heard(server)
        if now[0] >= before[0] + keys and now[1] >= before[1] + roles:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(
        f"{server.url} did not hear the announcements (heard {heard(server)}, before {before})"
    )
