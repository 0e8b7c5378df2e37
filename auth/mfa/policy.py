"""An organisation's MFA policy: ``off``, ``admins`` (its admins must use MFA) or ``all``.

A member the policy covers who has no MFA yet signs in as usual, but their tokens carry the claim
``mfa_enrolment_required``: with it every request is refused 403 ``mfa_enrolment_required``
except turning MFA on (``/mfa/enable``, ``/mfa/confirm``), ``/me`` and signing out.  Tokens are
issued with the claim by every session opening and every refresh, so a policy set or tightened
reaches a member's next access token (at most ``tokens.access_ttl`` later), and a member who
enrolled loses the claim at their next refresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal

import asyncpg

Policy = Literal["off", "admins", "all"]
POLICIES: Final = ("off", "admins", "all")


async def enrolment_required(
    conn: asyncpg.Connection, user_id: str, org_id: str | None, admin_roles: Sequence[str]
) -> bool:
    """True when ``org_id``'s policy covers the member ``user_id`` and they have no MFA."""
    if org_id is None:
        return False
    required = await conn.fetchval(
        """
        SELECT o.mfa_policy = 'all' OR (o.mfa_policy = 'admins' AND m.role = ANY($3::text[]))
        FROM rowgate.memberships m JOIN rowgate.orgs o ON o.id = m.org_id
        WHERE m.user_id = $1 AND m.org_id = $2 AND NOT EXISTS (
            SELECT 1 FROM rowgate.mfa_factors f WHERE f.user_id = $1 AND f.confirmed_at IS NOT NULL
        )
        """,
        user_id,
        org_id,
        list(admin_roles),
    )
    return required is True


async def set_policy(conn: asyncpg.Connection, org_id: str, policy: Policy) -> None:
    await conn.execute("UPDATE rowgate.orgs SET mfa_policy = $2 WHERE id = $1", org_id, policy)


async def get_policy(conn: asyncpg.Connection, org_id: str) -> Policy:
    value = await conn.fetchval("SELECT mfa_policy FROM rowgate.orgs WHERE id = $1", org_id)
    return "admins" if value == "admins" else "all" if value == "all" else "off"
