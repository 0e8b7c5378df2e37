"""Which rowgate account a provider's identity signs in to, and explicit linking.

An identity already linked signs in to its account.  Otherwise it links to the account with the
same address only when the provider asserts the address is verified *and* the account's address
is verified too: an unverified side could belong to someone else, and linking would hand them the
account (account takeover through linking).  When the account's address is unverified, the user
must sign in another way and link the provider explicitly.  A new address creates an account.
A provider that does not vouch for the address cannot create or find an account by it.

An identity is never unlinked when it is the account's last way to sign in (no password, no
other provider).
"""

from __future__ import annotations

import asyncpg

from rowgate.auth import audit
from rowgate.auth.audit import ClientContext
from rowgate.auth.email_address import InvalidEmail, normalize_email
from rowgate.auth.repo import linked_accounts, users
from rowgate.auth.repo.users import User
from rowgate.auth.social.providers import ProviderIdentity
from rowgate.errors import Conflict, Forbidden, NotFound


async def account_for(
    conn: asyncpg.Connection, provider: str, identity: ProviderIdentity, client: ClientContext
) -> User:
    """The account ``identity`` signs in to (linked now, or created, when it may be)."""
    owner = await linked_accounts.owner(conn, provider, identity.subject)
    user = await users.by_id(conn, owner) if owner else None
    if user is not None:
        return user
    email = _vouched_email(provider, identity)
    user = await users.by_email(conn, email)
    if user is None:
        user = await _create(conn, provider, email, identity, client)
    elif not user.email_verified:
        raise Conflict(
            f"An account with this email address exists; sign in to it and link {provider} from there.",
            code="link_required",
        )
    await _link(conn, user.id, provider, identity, email, client)
    return user


async def link_explicitly(
    conn: asyncpg.Connection, user_id: str, provider: str, identity: ProviderIdentity, client: ClientContext
) -> None:
    """Link ``identity`` to the signed-in user who went through the provider to prove it."""
    owner = await linked_accounts.owner(conn, provider, identity.subject)
    if owner == user_id:
        return
    if owner is not None:
        raise Conflict(f"This {provider} account is linked to another account.", code="identity_taken")
    await _link(conn, user_id, provider, identity, identity.email, client)


async def unlink(conn: asyncpg.Connection, user_id: str, provider: str, client: ClientContext) -> None:
    user = await users.by_id(conn, user_id, for_update=True)
    linked = [a.provider for a in await linked_accounts.of_user(conn, user_id)]
    if user is None or provider not in linked:
        raise NotFound(f"No {provider} account is linked.", code="not_linked")
    if user.password_hash is None and len(linked) == 1:
        raise Conflict(
            "This is the account's only way to sign in; set a password or link another provider first.",
            code="last_signin_method",
        )
    await linked_accounts.unlink(conn, user_id, provider)
    await audit.record(conn, "account.unlinked", client, user_id=user_id, details={"provider": provider})


def _vouched_email(provider: str, identity: ProviderIdentity) -> str:
    if not identity.email or not identity.email_verified:
        raise Forbidden(
            f"{provider} did not confirm a verified email address for this account.",
            code="provider_email_unverified",
        )
    try:
        return normalize_email(identity.email)
    except InvalidEmail:
        raise Forbidden(
            f"{provider} gave an unusable email address.", code="provider_email_unverified"
        ) from None


async def _create(
    conn: asyncpg.Connection, provider: str, email: str, identity: ProviderIdentity, client: ClientContext
) -> User:
    user = await users.insert_user(conn, email, None, identity.name, verified=True)
    if user is None:  # a concurrent sign-up took the address
        raise Conflict(
            "An account with this email address was just created; try again.", code="link_required"
        )
    membership = await users.create_org(
        conn, f"{identity.name or email.split('@', 1)[0]}'s organisation", user.id
    )
    details = {"method": provider}
    await audit.record(conn, "signup", client, user_id=user.id, org_id=membership.org_id, details=details)
    return user


async def _link(
    conn: asyncpg.Connection,
    user_id: str,
    provider: str,
    identity: ProviderIdentity,
    email: str | None,
    client: ClientContext,
) -> None:
    if not await linked_accounts.link(conn, user_id, provider, identity.subject, email):
        raise Conflict(
            f"Another {provider} account is linked to this account already.", code="provider_already_linked"
        )
    await audit.record(conn, "account.linked", client, user_id=user_id, details={"provider": provider})


async def overview(
    conn: asyncpg.Connection, user_id: str
) -> tuple[list[linked_accounts.LinkedAccount], bool]:
    """The user's linked identities, and whether the account has a password."""
    user = await users.by_id(conn, user_id)
    if user is None:
        raise NotFound("This account no longer exists.", code="account_deleted")
    return await linked_accounts.of_user(conn, user_id), user.password_hash is not None
