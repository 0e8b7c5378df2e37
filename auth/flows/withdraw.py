"""Account deletion: the user, their sessions and tokens, and every organisation left empty.

The last admin of an organisation that still has other members cannot leave it without an admin:
that is refused (409 ``last_admin``) until another member is made admin.  Everything happens in
one transaction; the sessions' ids then go to the revocation list so that
access tokens already handed out stop working at once.  Mail still waiting for the address is
dropped, so nothing is sent to someone who left.  The audit trail keeps the event with the user's
id (never the address).
"""

from __future__ import annotations

from rowgate.auth import audit
from rowgate.auth.audit import ClientContext
from rowgate.auth.flows.identity import Identity
from rowgate.auth.flows.password import confirm_identity
from rowgate.auth.mail import outbox
from rowgate.auth.repo import users
from rowgate.auth.sessions import repo as sessions
from rowgate.auth.tokens.opaque import key_digest
from rowgate.errors import Conflict


async def withdraw(ident: Identity, user_id: str, password: str, client: ClientContext) -> None:
    user = await confirm_identity(ident, user_id, password, client)
    async with ident.db.transaction() as conn:
        stranded = await users.orgs_that_would_lose_their_last_admin(
            conn, user.id, ident.settings.rbac.admin_roles
        )
        if stranded:
            raise Conflict(
                "You are the last admin of an organisation that has other members: make another member "
                "an admin (or remove the members) before deleting your account.",
                code="last_admin",
                extra={"orgIds": stranded},
            )
        live = await sessions.live_ids(conn, user.id)
        deleted_orgs = await users.delete_user(conn, user.id)
        await outbox.forget_recipient(conn, user.email)
        await audit.record(
            conn, "account.withdrawn", client, user_id=user.id, details={"orgsDeleted": len(deleted_orgs)}
        )
    await ident.revocations.revoke(*live)
    await ident.guards.account.clear(key_digest(user.email))
