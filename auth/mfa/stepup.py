"""Step-up: sensitive operations ask a user with MFA for a second factor given recently.

"Recently" is ``auth.mfa.step_up_window`` (10 minutes by default), read from the access token:
its ``amr`` holds ``mfa`` and its ``auth_time`` is within the window.  Otherwise the operation is
refused 403 ``mfa_required`` and the client calls ``step_up`` (``POST /mfa/step-up`` with a
code), which records the second factor on the session and answers fresh access and ID tokens
that pass.  Users without MFA are not asked (an organisation may require them to enrol:
``auth.mfa.policy``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from rowgate.auth.audit import ClientContext
from rowgate.auth.flows.identity import Identity
from rowgate.auth.mfa.enrolment import signed_in_user
from rowgate.auth.mfa.gate import SECOND_FACTOR_AMR
from rowgate.auth.mfa.proof import guarded
from rowgate.auth.mfa.service import NOT_ENABLED, SecondFactor
from rowgate.auth.repo import users
from rowgate.auth.sessions.issuing import Grant, Reissued, reissue
from rowgate.errors import Conflict, Forbidden, Unauthorized

STEP_UP = (
    "This operation needs a recent second factor: send a code to POST /v1/auth/mfa/step-up, "
    "then repeat it with the access token that answers."
)


@dataclass(frozen=True, slots=True)
class Authentication:
    """How the caller's access token says they signed in."""

    user_id: str
    amr: Sequence[str]
    auth_time: int | None


def is_recent(auth: Authentication, window: timedelta, now: float) -> bool:
    """True when the token shows a second factor given within ``window`` of ``now``."""
    if "mfa" not in auth.amr or auth.auth_time is None:
        return False
    return now - auth.auth_time <= window.total_seconds()


async def require_recent_mfa(ident: Identity, auth: Authentication) -> None:
    """403 ``mfa_required`` unless the caller has no MFA or gave a second factor recently."""
    if is_recent(auth, ident.settings.auth.mfa.step_up_window, time.time()):
        return
    if await ident.mfa.enabled(auth.user_id):
        raise Forbidden(STEP_UP, code="mfa_required")


async def step_up(
    ident: Identity, user_id: str, session_id: str | None, second: SecondFactor, client: ClientContext
) -> Reissued:
    """Check a second factor for the signed-in user; tokens of their session that show it."""
    user = await signed_in_user(ident, user_id)
    if session_id is None:
        raise Unauthorized("This token belongs to no session: sign in again.", code="no_session")
    if not await ident.mfa.enabled(user.id):
        raise Conflict(NOT_ENABLED, code="mfa_not_enabled")
    await guarded(ident, user, client, lambda: ident.mfa.check(user.id, second), signed_in=True)
    async with ident.db.transaction() as conn:
        row = await conn.fetchrow(_RECORD, session_id, user.id, list(SECOND_FACTOR_AMR))
        if row is None:
            raise Unauthorized("This session ended: sign in again.", code="session_ended")
        org_id, amr, mfa_at = row["org_id"], tuple(row["amr"]), row["mfa_at"]
        membership = await users.membership(conn, user.id, org_id) if org_id else None
    grant = _grant(user, session_id, membership, amr, mfa_at)
    return reissue(ident.tokens, grant)


# The session's amr gains otp and mfa (once each, in order), and mfa_at is now.
_RECORD = """
UPDATE rowgate.sessions
SET mfa_at = now(),
    amr = amr || ARRAY(SELECT a FROM unnest($3::text[]) AS a WHERE a <> ALL (amr))
WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > now()
RETURNING org_id::text, amr, mfa_at
"""


def _grant(
    user: users.User, session_id: str, membership: users.Membership | None, amr: tuple[str, ...], at: datetime
) -> Grant:
    return Grant(
        user_id=user.id,
        session_id=session_id,
        email=user.email,
        email_verified=user.email_verified,
        name=user.name,
        org_id=membership.org_id if membership else None,
        role=membership.role if membership else None,
        amr=amr,
        authenticated_at=at,
    )
