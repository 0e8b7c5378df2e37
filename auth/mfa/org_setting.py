"""Reading and changing the active organisation's MFA policy (its admins only)."""

from __future__ import annotations

from rowgate.auth.actor import Actor
from rowgate.auth.flows.identity import Identity
from rowgate.auth.mfa import policy
from rowgate.auth.mfa.policy import Policy
from rowgate.errors import Conflict


async def current(ident: Identity, actor: Actor) -> Policy:
    async with ident.db.connection() as conn:
        return await policy.get_policy(conn, actor.org_id)


async def change(ident: Identity, actor: Actor, wanted: Policy) -> None:
    """Set the policy; an admin who would require MFA must use it themselves first."""
    actor.require_admin()
    if wanted != "off" and not await ident.mfa.enabled(actor.user_id):
        raise Conflict(
            "Turn multi-factor authentication on for yourself before requiring it of others.",
            code="mfa_not_enabled",
        )
    async with ident.db.transaction() as conn:
        await policy.set_policy(conn, actor.org_id, wanted)
        await actor.audit(conn, "org.mfa_policy_changed", {"policy": wanted})
