"""A user's organisations: list them, create one, and switch the active one.

Access tokens carry one active organisation (``org_id``) and the role held there.  Switching opens
a new session in the chosen organisation (a full token set) and ends the session it came from, so
one sign-in is always one live session.  Only organisations the user belongs to *now* can be
chosen: any other id, whether it exists or not, is a 404 (nothing confirms that an organisation
the user is not in exists), and a user who left an organisation cannot switch back into it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rowgate.auth import audit
from rowgate.auth.db import Database
from rowgate.auth.ids import canonical_uuid
from rowgate.auth.orgs.seams import SignedIn
from rowgate.auth.rbac.catalog import RoleCatalog
from rowgate.auth.repo.users import Membership
from rowgate.auth.sessions.issuing import TokenSet
from rowgate.auth.sessions.opener import SessionOpener
from rowgate.auth.sessions.repo import require_live
from rowgate.auth.sessions.revocation import RevocationList
from rowgate.errors import Conflict, NotFound

_MEMBERSHIPS = """
SELECT o.id::text, o.name, m.role FROM rowgate.memberships m JOIN rowgate.orgs o ON o.id = m.org_id
"""


@dataclass(frozen=True, slots=True)
class OrgView:
    id: str
    name: str
    role: str


class Orgs:
    def __init__(
        self,
        db: Database,
        catalog: RoleCatalog,
        revocations: RevocationList,
        sessions: SessionOpener,
        *,
        max_per_user: int = 100,
    ) -> None:
        self._db, self._catalog, self._revocations, self._sessions = db, catalog, revocations, sessions
        self._max = max_per_user

    async def mine(self, user_id: str) -> list[OrgView]:
        rows = await self._db.fetch(
            _MEMBERSHIPS + "WHERE m.user_id = $1 ORDER BY m.created_at, o.id",
            user_id,
        )
        return [OrgView(*r.values()) for r in rows]

    async def create(self, user: SignedIn, name: str) -> OrgView:
        """A new organisation with the user as its (first) admin."""
        role = sorted(self._catalog.admin_roles)[0]
        async with self._db.transaction() as conn:
            await conn.execute("SELECT id FROM rowgate.users WHERE id = $1 FOR UPDATE", user.user_id)
            count = await conn.fetchval(
                "SELECT count(*) FROM rowgate.memberships WHERE user_id = $1", user.user_id
            )
            if count >= self._max:
                raise Conflict(f"A user belongs to at most {self._max} organisations.", code="too_many_orgs")
            org_id = await conn.fetchval(
                "INSERT INTO rowgate.orgs (name) VALUES ($1) RETURNING id::text", name
            )
            await conn.execute(
                "INSERT INTO rowgate.memberships (org_id, user_id, role) VALUES ($1, $2, $3)",
                org_id,
                user.user_id,
                role,
            )
            await audit.record(
                conn,
                "org.created",
                user.client,
                user_id=user.user_id,
                org_id=org_id,
                session_id=user.session_id,
            )
        return OrgView(org_id, name, role)

    async def switch(self, user: SignedIn, org_id: str) -> tuple[OrgView, TokenSet]:
        """Tokens for a new session in ``org_id``; the session ``user`` came from ends."""
        target = canonical_uuid(org_id)
        if target is None:
            raise NotFound("No such organisation.", code="org_not_found")
        async with self._db.transaction() as conn:
            await require_live(conn, user.session_id)
            row = await conn.fetchrow(
                _MEMBERSHIPS + "WHERE m.user_id = $1 AND m.org_id = $2",
                user.user_id,
                target,
            )
            if row is None:
                raise NotFound("No such organisation.", code="org_not_found")
            org = OrgView(*row.values())
            ended = None
            if user.session_id is not None:
                ended = await conn.fetchval(
                    "UPDATE rowgate.sessions SET revoked_at = now() WHERE id = $1 AND user_id = $2 "
                    "AND revoked_at IS NULL RETURNING id::text",
                    canonical_uuid(user.session_id),
                    user.user_id,
                )
            membership = Membership(org.id, org.name, org.role)
            tokens = await self._sessions.open_for(conn, user.user_id, membership, user.client, user.amr)
            await audit.record(
                conn,
                "org.switched",
                user.client,
                user_id=user.user_id,
                org_id=org.id,
                session_id=user.session_id,
                details={"sessionEnded": ended is not None},
            )
        if ended is not None:
            await self._revocations.revoke(ended)
        return org, tokens
