"""The mutator: what the upstream learns of the caller, and which credentials stop here.

Every ``X-Rowgate-*`` header the client sent is deleted (in any letter case) before the trusted
identity headers are added, so the upstream can rely on them: nobody else can set them.

Credentials rowgate checks go no further: ``X-API-Key`` always stays here (the upstream learns
which key called from ``X-Rowgate-Api-Key-Id``), and so does a Bearer token unless
``upstream.forward_bearer`` asks for it; the upstream then never holds (or logs) them.
Other ``Authorization`` schemes (Basic for the app's own use) pass through.

The forwarder applies both in its one pass over the client's headers
(``Forwarder.outgoing_headers``): ``stopped`` names what is left out, ``IDENTITY_PREFIX`` what the
client may not send (the lower-case names it starts), and ``identity_headers`` is added (worked
out once per principal object: ``IdentityHeaders``).
"""

from __future__ import annotations

from collections.abc import Mapping

from rowgate.auth.principal import Principal
from rowgate.proxy.authenticators import API_KEY_HEADER

#: The lower-case start of the identity headers only rowgate may set.
IDENTITY_PREFIX = "x-rowgate-"

_KEY = frozenset({API_KEY_HEADER.lower()})
_KEY_AND_BEARER = _KEY | {"authorization"}


def stopped(headers: Mapping[str, str], *, keep_bearer: bool = False) -> frozenset[str]:
    """The lower-case names of the client's credential headers that stop here: ``X-API-Key``,
    and ``Authorization`` when its (first) value is a Bearer token that is not forwarded."""
    if not keep_bearer and headers.get("Authorization", "")[:7].lower() == "bearer ":
        return _KEY_AND_BEARER
    return _KEY


def identity_headers(principal: Principal) -> dict[str, str]:
    """The trusted headers that tell the upstream who is calling."""
    values = {
        "X-Rowgate-User-Id": principal.user_id,
        "X-Rowgate-Org-Id": principal.org_id,
        "X-Rowgate-Role": principal.role,
        "X-Rowgate-Session-Id": principal.session_id,
        "X-Rowgate-Api-Key-Id": principal.api_key_id,
        "X-Rowgate-Auth-Method": principal.method,
    }
    return {name: value for name, value in values.items() if value}


#: Principals whose identity headers ``IdentityHeaders`` keeps at most (forgotten all at once).
MAX_KEPT = 10_000


class IdentityHeaders:
    """``identity_headers`` as pairs, kept per principal object (immutable, and kept alive here
    so that its id names no other): the authenticators hand the same object to the requests of a
    cached credential, and a guest is always ``GUEST``."""

    def __init__(self) -> None:
        self._kept: dict[int, tuple[Principal, tuple[tuple[str, str], ...]]] = {}

    def __call__(self, principal: Principal) -> tuple[tuple[str, str], ...]:
        known = self._kept.get(id(principal))
        if known is not None and known[0] is principal:
            return known[1]
        pairs = tuple(identity_headers(principal).items())
        if len(self._kept) >= MAX_KEPT:
            self._kept.clear()
        self._kept[id(principal)] = (principal, pairs)
        return pairs
