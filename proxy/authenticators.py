"""Authenticators: each looks for one kind of credential and answers a Principal, or None.

The pipeline asks them in order (``proxy.app.build_pipeline``); the first that finds its kind of
credential decides, and an invalid credential raises rather than falling through to a guest.
"""

from __future__ import annotations

from collections.abc import Collection

from aiohttp import web

from auth.principal import Principal
from auth.revocation import RevocationList
from auth.tokens import TokenService
from config.errors import InvalidToken


def rls_groups(role: str | None, admin_roles: Collection[str]) -> frozenset[str]:
    """RLS groups of a signed-in member: ``user``, plus ``admin`` when the role is an admin role."""
    return frozenset({"user", "admin"}) if role in admin_roles else frozenset({"user"})


class BearerAuthenticator:
    """``Authorization: Bearer <rowgate access token>``: verified locally (cached), revocation checked."""

    def __init__(
        self, tokens: TokenService, revocations: RevocationList, admin_roles: Collection[str]
    ) -> None:
        self.tokens = tokens
        self.revocations = revocations
        self.admin_roles = frozenset(admin_roles)

    async def __call__(self, request: web.Request) -> Principal | None:
        header = request.headers.get("Authorization")
        if header is None:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        token = token.strip()
        if not token:
            raise InvalidToken("The Authorization header holds no token after 'Bearer'.")
        claims = self.tokens.verify_access(token, revoked=self.revocations.is_revoked)
        return Principal(
            method="mfa" if "mfa" in claims.amr else "password",
            user_id=claims.sub,
            org_id=claims.org_id,
            role=claims.role,
            permissions=frozenset(claims.perms),
            session_id=claims.sid,
            scopes=claims.scopes,
            amr=claims.amr,
            token_id=claims.jti,
            groups=rls_groups(claims.role, self.admin_roles) if claims.org_id else frozenset({"user"}),
        )
