"""Opening a session: the one way sign-in, signup, switch-org and an accepted invitation sign a
user in.

A session is a row with its device label and client IP, a first refresh token (handed out in
clear, stored as a digest), the audit record ``signin.succeeded`` (method and device), and a token
set whose access token carries the organisation and the role held there.  Everything is written
in the caller's transaction, so it commits or rolls back with what made the user sign in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import asyncpg

from rowgate.auth import audit
from rowgate.auth.audit import ClientContext
from rowgate.auth.mfa import policy
from rowgate.auth.repo import users
from rowgate.auth.repo.users import Membership, User
from rowgate.auth.sessions import repo as sessions
from rowgate.auth.sessions.device import device_label
from rowgate.auth.sessions.issuing import PASSWORD_AMR, Grant, TokenSet, issue
from rowgate.auth.sessions.repo import Session
from rowgate.auth.tokens.opaque import digest, new_token
from rowgate.auth.tokens.service import TokenService
from rowgate.errors import Unauthorized


class SessionOpener:
    def __init__(self, tokens: TokenService, lifetime: timedelta, admin_roles: Sequence[str] = ()) -> None:
        self._tokens = tokens
        self._lifetime = lifetime
        self._admin_roles = tuple(admin_roles)

    async def open(
        self,
        conn: asyncpg.Connection,
        user: User,
        membership: Membership | None,
        client: ClientContext,
        amr: Sequence[str] = PASSWORD_AMR,
    ) -> TokenSet:
        """A new session of ``user`` in ``membership``'s organisation (or none), with its tokens."""
        session = await sessions.create(
            conn,
            user_id=user.id,
            org_id=membership.org_id if membership else None,
            device=device_label(client.user_agent),
            ip=client.ip,
            amr=tuple(amr) or PASSWORD_AMR,
            lifetime=self._lifetime,
        )
        refresh = new_token()
        await sessions.issue_refresh(conn, session.id, digest(refresh), self._lifetime)
        await audit.record(
            conn,
            "signin.succeeded",
            client,
            user_id=user.id,
            org_id=session.org_id,
            session_id=session.id,
            details={"method": _method(session.amr), "device": session.device},
        )
        org_id = membership.org_id if membership else None
        must_enrol = await policy.enrolment_required(conn, user.id, org_id, self._admin_roles)
        return issue(self._tokens, _grant(user, membership, session, must_enrol), refresh)

    async def open_for(
        self,
        conn: asyncpg.Connection,
        user_id: str,
        membership: Membership,
        client: ClientContext,
        amr: Sequence[str],
    ) -> TokenSet:
        """``open`` for the user with this id (401 ``account_deleted`` when there is none)."""
        user = await users.by_id(conn, user_id)
        if user is None:
            raise Unauthorized("This account no longer exists.", code="account_deleted")
        return await self.open(conn, user, membership, client, amr)


def _method(amr: tuple[str, ...]) -> str:
    """How the user proved who they are, as the audit trail names it."""
    return "password" if "pwd" in amr else " ".join(amr)


def _grant(user: User, membership: Membership | None, session: Session, must_enrol: bool) -> Grant:
    return Grant(
        user_id=user.id,
        session_id=session.id,
        email=user.email,
        email_verified=user.email_verified,
        name=user.name,
        org_id=membership.org_id if membership else None,
        role=membership.role if membership else None,
        amr=session.amr,
        authenticated_at=session.created_at,
        mfa_enrolment_required=must_enrol,
    )
