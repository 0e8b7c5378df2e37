"""The mutator: what the upstream learns of the caller, and which credentials stop here.

Every ``X-Rowgate-*`` header the client sent is deleted (in any letter case) before the trusted
identity headers are added, so the upstream can rely on them: nobody else can set them.
"""

from __future__ import annotations

from multidict import CIMultiDict

from rowgate.auth.principal import Principal
from rowgate.proxy.authenticators import API_KEY_HEADER

IDENTITY_PREFIX = "x-rowgate-"


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


def mutate(headers: CIMultiDict[str], principal: Principal, *, keep_bearer: bool = False) -> CIMultiDict[str]:
    """Delete every client-sent ``X-Rowgate-*`` header, then add the trusted ones.

    Credentials rowgate checks go no further: ``X-API-Key`` always stays here (the upstream learns
    which key called from ``X-Rowgate-Api-Key-Id``), and so does a Bearer token unless
    ``upstream.forward_bearer`` asks for it; the upstream then never holds (or logs) them.
    Other ``Authorization`` schemes (Basic for the app's own use) pass through.
    """
    for name in {n for n in headers if n.lower().startswith(IDENTITY_PREFIX)}:
        headers.popall(name, None)
    headers.popall(API_KEY_HEADER, None)
    if not keep_bearer and headers.get("Authorization", "")[:7].lower() == "bearer ":
        del headers["Authorization"]
    headers.update(identity_headers(principal))
    return headers
