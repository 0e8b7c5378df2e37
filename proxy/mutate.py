"""The mutator: what the upstream learns of the caller, and which credentials stop here.

Every ``X-Rowgate-*`` header the client sent is deleted (in any letter case) before the trusted
identity headers are added, so the upstream can rely on them: nobody else can set them.

Credentials rowgate checks go no further: ``X-API-Key`` always stays here (the upstream learns
which key called from ``X-Rowgate-Api-Key-Id``), and so does a Bearer token unless
``upstream.forward_bearer`` asks for it; the upstream then never holds (or logs) them.
Other ``Authorization`` schemes (Basic for the app's own use) pass through.

The forwarder applies both in its one pass over the client's headers
(``Forwarder.outgoing_headers``): ``stopped`` names what is left out, ``is_identity`` what the
client may not send, and ``identity_headers`` is added.
"""

from __future__ import annotations

from collections.abc import Mapping

from rowgate.auth.principal import Principal
from rowgate.proxy.authenticators import API_KEY_HEADER

IDENTITY_PREFIX = "x-rowgate-"

_KEY = frozenset({API_KEY_HEADER.lower()})
_KEY_AND_BEARER = _KEY | {"authorization"}


def is_identity(lower_name: str) -> bool:
    """Whether a (lower-case) header name is one of the identity headers only rowgate may set."""
    return lower_name.startswith(IDENTITY_PREFIX)


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
