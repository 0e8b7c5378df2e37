"""The one identity value that flows through the whole request pipeline.

Authenticators produce a ``Principal``; authorisation, handlers, identity headers for the upstream
and the RLS subject are all derived from it.  Handlers never re-derive identity from headers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Method = Literal["password", "mfa", "api_key", "external", "guest"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, for which tenant, with what rights, and how that was established."""

    method: Method
    user_id: str | None = None
    org_id: str | None = None
    role: str | None = None
    permissions: frozenset[str] = frozenset()
    session_id: str | None = None
    api_key_id: str | None = None
    scopes: frozenset[str] = frozenset()
    amr: tuple[str, ...] = ()
    #: When the user last proved who they are (the access token's ``auth_time``), Unix seconds.
    auth_time: int | None = None
    #: The organisation requires MFA of this member, who has none yet: only enrolment is allowed.
    mfa_enrolment_required: bool = False
    token_id: str | None = None
    #: RLS groups this principal belongs to (``admin``, ``user``, ``guest``).
    groups: frozenset[str] = field(default=frozenset({"guest"}))
    #: A secret API key's own rate limit, ``(requests, window in seconds)``; None: the configured one.
    rate_limit: tuple[int, int] | None = None
    #: When the credential stops being accepted (epoch seconds: a token's ``exp``, an API key's
    #: expiry); None: not by itself.  A WebSocket opened with it is closed then.
    expires_at: float | None = None

    @property
    def is_authenticated(self) -> bool:
        """True for a signed-in user, an external token's subject or a secret API key.

        A publishable API key names its tenant but acts as that tenant's guest (it ships in
        client code anyone can read), so it is not authenticated: it passes ``public`` routes
        only, and RLS sees it in the ``guest`` group of its tenant.
        """
        if self.method == "guest" or "guest" in self.groups:
            return False
        return self.user_id is not None or self.api_key_id is not None

    @property
    def is_publishable_key(self) -> bool:
        return self.api_key_id is not None and "guest" in self.groups


GUEST = Principal(method="guest")
