"""Where every passwordless and social sign-in ends: one function, so that what must happen at
the end of any sign-in (a second factor, say) is added in one place.

The sign-in methods are named as the ``amr`` claim names them: ``magiclink`` for a link sent by
mail, the provider's configured name (``google``, ``github``) for a provider's identity.
"""

from __future__ import annotations

import asyncpg

from rowgate.auth.audit import ClientContext
from rowgate.auth.flows.identity import Identity
from rowgate.auth.mfa import gate
from rowgate.auth.mfa.challenge import MfaChallenge
from rowgate.auth.repo.users import User
from rowgate.auth.sessions.issuing import TokenSet

MAGIC_LINK = "magiclink"


async def complete_signin(
    ident: Identity, conn: asyncpg.Connection, user: User, method: str, client: ClientContext
) -> TokenSet | MfaChallenge:
    """Sign ``user`` in (proven by ``method``): a session in the user's first organisation, opened
    in the caller's transaction by the one ``SessionOpener``; for a user with MFA, the challenge
    that ``POST /mfa/verify`` completes with a code (the MFA gate, ``auth.mfa.gate``)."""
    return await gate.pass_gate(ident, conn, user, client, (method,))
