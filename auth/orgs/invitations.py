"""Invitations: an admin invites an address with a role; the invitee accepts with the mailed link.

The link carries a random token (256 bits) stored only as its SHA-256 digest; it works once, until
``invitations.ttl``, and only for a signed-in user whose address is the invited one (a different
account holding the link is refused: a forwarded or leaked mail does not let someone else in).
Accepting proves the address receives mail, so it also marks the address verified.

One open invitation per address and organisation: inviting again replaces the old one (its link
stops working).  Admins list the open invitations and revoke them; everything is confined to the
admin's organisation and audited.  The mail is queued in the same transaction (outbox).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from rowgate.auth import audit
from rowgate.auth.actor import Actor
from rowgate.auth.db import Database
from rowgate.auth.ids import canonical_uuid
from rowgate.auth.orgs import repo
from rowgate.auth.orgs.seams import Mailer, SignedIn
from rowgate.auth.rbac.catalog import RoleCatalog
from rowgate.auth.rbac.custom_roles import grantable_role
from rowgate.auth.repo.users import Membership
from rowgate.auth.sessions.issuing import TokenSet
from rowgate.auth.sessions.opener import SessionOpener
from rowgate.auth.sessions.repo import require_live
from rowgate.config.tenancy import InvitationSettings
from rowgate.errors import Conflict, Forbidden, NotFound, ValidationFailed

TEMPLATE = "invitation"
MAX_TOKEN_LENGTH = 512
_COLUMNS = "i.id::text, i.email, i.role, i.invited_by::text, i.created_at, i.expires_at"


@dataclass(frozen=True, slots=True)
class InvitationView:
    id: str
    email: str
    role: str
    invited_by: str | None
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Invitee:
    email: str
    org_name: str
    role: str


@dataclass(frozen=True, slots=True)
class Accepted:
    org_id: str
    org_name: str
    role: str
    tokens: TokenSet


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class Invitations:
    def __init__(
        self,
        db: Database,
        catalog: RoleCatalog,
        settings: InvitationSettings,
        mailer: Mailer,
        sessions: SessionOpener,
        link: Callable[[str], str],
        normalize_email: Callable[[str], str],
    ) -> None:
        self._db, self._catalog, self._settings = db, catalog, settings
        self._mailer, self._sessions, self._link = mailer, sessions, link
        self._normalize = normalize_email

    async def create(self, actor: Actor, email: str, role: str) -> InvitationView:
        actor.require_admin()
        address = self._address(email)
        token = secrets.token_urlsafe(32)
        async with self._db.transaction() as conn:
            await repo.lock_org(conn, actor.org_id)  # before reading the role: deletions wait
            await grantable_role(conn, self._catalog, actor, role)
            await self._check_room(conn, actor.org_id, address)
            await conn.execute(
                "UPDATE rowgate.invitations SET revoked_at = now() WHERE org_id = $1 AND email = $2 "
                "AND accepted_at IS NULL AND revoked_at IS NULL",
                actor.org_id,
                address,
            )
            row = await conn.fetchrow(
                f"""
                INSERT INTO rowgate.invitations AS i (org_id, email, role, digest, invited_by, expires_at)
                VALUES ($1, $2, $3, $4, $5, now() + $6::interval) RETURNING {_COLUMNS}
                """,
                actor.org_id,
                address,
                role,
                _digest(token),
                actor.user_id,
                self._settings.ttl,
            )
            assert row is not None
            view = InvitationView(*row.values())
            await _audit(conn, actor, "invitation.created", view)
            await self._mail(conn, actor, view, token)
        self._mailer.wake()
        return view

    async def list(self, actor: Actor) -> list[InvitationView]:
        """The organisation's open invitations (neither accepted, revoked nor expired), newest first."""
        actor.require_admin()
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM rowgate.invitations i WHERE i.org_id = $1 AND i.accepted_at IS NULL "
            "AND i.revoked_at IS NULL AND i.expires_at > now() ORDER BY i.created_at DESC, i.id",
            actor.org_id,
        )
        return [InvitationView(*r.values()) for r in rows]

    async def revoke(self, actor: Actor, invitation_id: str) -> None:
        actor.require_admin()
        found = canonical_uuid(invitation_id)
        if found is None:
            raise NotFound("No such invitation.", code="invitation_not_found")
        async with self._db.transaction() as conn:
            row = await conn.fetchrow(
                f"""
                UPDATE rowgate.invitations AS i SET revoked_at = now()
                WHERE i.id = $1 AND i.org_id = $2 AND i.accepted_at IS NULL AND i.revoked_at IS NULL
                RETURNING {_COLUMNS}
                """,
                found,
                actor.org_id,
            )
            if row is None:
                raise NotFound("No such invitation.", code="invitation_not_found")
            await _audit(conn, actor, "invitation.revoked", InvitationView(*row.values()))

    async def peek(self, token: str) -> Invitee:
        """Who the invitation ``token`` is for and to what, without using it (for link pages)."""
        async with self._db.connection() as conn:
            found = await _usable(conn, token, lock=False)
        return Invitee(found["email"], found["name"], found["role"])

    async def accept(self, user: SignedIn, token: str) -> Accepted:
        """Join the organisation of the invitation ``token`` and sign in to it."""
        async with self._db.transaction() as conn:
            await require_live(conn, user.session_id)
            invitation = await _usable(conn, token, lock=True)
            email = await conn.fetchval("SELECT email FROM rowgate.users WHERE id = $1", user.user_id)
            if email is None or not secrets.compare_digest(str(email).encode(), invitation["email"].encode()):
                raise Forbidden(
                    "This invitation was sent to another address: sign in with the invited account.",
                    code="invitation_email_mismatch",
                )
            org_id, role = invitation["org_id"], invitation["role"]
            joined = await conn.fetchval(
                "INSERT INTO rowgate.memberships (org_id, user_id, role) VALUES ($1, $2, $3) "
                "ON CONFLICT DO NOTHING RETURNING true",
                org_id,
                user.user_id,
                role,
            )
            if not joined:
                raise Conflict("You are a member of this organisation already.", code="already_member")
            await conn.execute(
                "UPDATE rowgate.invitations SET accepted_at = now(), accepted_by = $2 WHERE id = $1",
                invitation["id"],
                user.user_id,
            )
            await conn.execute(
                "UPDATE rowgate.users SET email_verified_at = coalesce(email_verified_at, now()) "
                "WHERE id = $1 AND email = $2",
                user.user_id,
                invitation["email"],
            )
            await audit.record(
                conn,
                "invitation.accepted",
                user.client,
                user_id=user.user_id,
                org_id=org_id,
                session_id=user.session_id,
                details={"invitationId": invitation["id"], "role": role},
            )
            membership = Membership(org_id, invitation["name"], role)
            tokens = await self._sessions.open_for(conn, user.user_id, membership, user.client, user.amr)
        return Accepted(org_id, invitation["name"], role, tokens)

    def _address(self, email: str) -> str:
        try:
            return self._normalize(email)
        except ValueError as exc:
            raise ValidationFailed(
                f"That email address cannot be used: {exc}.",
                errors=[{"field": "email", "message": str(exc)}],
                code="invalid_email",
            ) from None

    async def _check_room(self, conn: asyncpg.Connection, org_id: str, email: str) -> None:
        member = await conn.fetchval(
            "SELECT true FROM rowgate.memberships m JOIN rowgate.users u ON u.id = m.user_id "
            "WHERE m.org_id = $1 AND u.email = $2",
            org_id,
            email,
        )
        if member:
            raise Conflict("That address belongs to a member already.", code="already_member")
        pending = await conn.fetchval(
            "SELECT count(*) FROM rowgate.invitations WHERE org_id = $1 AND accepted_at IS NULL "
            "AND revoked_at IS NULL AND expires_at > now() AND email <> $2",
            org_id,
            email,
        )
        if pending >= self._settings.max_pending:
            raise Conflict(
                f"An organisation has at most {self._settings.max_pending} open invitations.",
                code="too_many_invitations",
            )

    async def _mail(self, conn: asyncpg.Connection, actor: Actor, view: InvitationView, token: str) -> None:
        names = await conn.fetchrow(
            "SELECT o.name AS org, coalesce(u.name, u.email) AS inviter FROM rowgate.orgs o "
            "JOIN rowgate.users u ON u.id = $2 WHERE o.id = $1",
            actor.org_id,
            actor.user_id,
        )
        assert names is not None
        days = max(1, round(self._settings.ttl.total_seconds() / 86400))
        values = {
            "org": names["org"],
            "inviter": names["inviter"],
            "role": view.role,
            "link": self._link(token),
            "lifetime": f"{days} day{'s' if days != 1 else ''}",
        }
        await self._mailer.queue(conn, TEMPLATE, view.email, values)


_FIND = """
SELECT i.id::text, i.org_id::text, o.name, i.email, i.role, i.expires_at <= now() AS expired,
       i.accepted_at IS NOT NULL AS used, i.revoked_at IS NOT NULL AS revoked
FROM rowgate.invitations i JOIN rowgate.orgs o ON o.id = i.org_id
WHERE i.digest = $1
"""


async def _usable(conn: asyncpg.Connection, token: str, *, lock: bool) -> asyncpg.Record:
    """The open invitation of ``token`` (locked for this transaction with ``lock``), or why not."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise NotFound("This invitation link is not valid.", code="invitation_not_found")
    invitation = await conn.fetchrow(_FIND + (" FOR UPDATE OF i" if lock else ""), _digest(token))
    _check_usable(invitation)
    assert invitation is not None
    return invitation


def _check_usable(invitation: asyncpg.Record | None) -> None:
    if invitation is None:
        raise NotFound("This invitation link is not valid.", code="invitation_not_found")
    if invitation["used"]:
        raise Conflict("This invitation was accepted already; it works once.", code="invitation_used")
    if invitation["revoked"]:
        raise Conflict("This invitation was withdrawn; ask for a new one.", code="invitation_revoked")
    if invitation["expired"]:
        raise Conflict("This invitation has expired; ask for a new one.", code="invitation_expired")


async def _audit(conn: asyncpg.Connection, actor: Actor, event: str, view: InvitationView) -> None:
    await actor.audit(conn, event, {"invitationId": view.id, "email": view.email, "role": view.role})
