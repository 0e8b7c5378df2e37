"""What every dashboard response and form carries: strict headers, CSRF tokens, an origin check.

* Headers: a Content-Security-Policy that allows nothing but the dashboard's own script, style
  and images (no inline code at all), no framing, no sniffing, no referrer leaving the origin,
  and no caching.
* CSRF: every state-changing form carries a synchronizer token.  Signed in, it is an HMAC of the
  dashboard session's cookie value (so it is bound to that session and changes with it); before
  sign-in, of a random nonce kept in its own cookie.  Tokens are compared in constant time.
* Origin: a POST must come from the dashboard's own origin (``Origin``), and a browser that says
  where a request came from (``Sec-Fetch-Site``) must say the same origin.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlsplit

from aiohttp import web

from rowgate.errors import Forbidden

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
CSRF_FIELD = "csrf"
_PURPOSE = b"rowgate dashboard csrf v1"
REFUSED_FORM = "This form expired or did not come from this page: reload the page and try again."


def protect(response: web.StreamResponse) -> web.StreamResponse:
    """``response`` with the dashboard's security headers."""
    response.headers.update(HEADERS)
    return response


def csrf_token(secret: str) -> str:
    """The form token bound to ``secret`` (the session cookie's value, or the sign-in nonce)."""
    key = hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()
    mac = hmac.new(key, _PURPOSE, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def check_csrf(secret: str | None, sent: str | None) -> None:
    """403 unless ``sent`` is the token for ``secret`` (constant-time compare)."""
    expected = csrf_token(secret) if secret else ""
    given = sent or ""
    if not (secret and hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))):
        raise Forbidden(REFUSED_FORM, code="csrf_failed")


def check_origin(request: web.Request, public_url: str) -> None:
    """403 for a POST a browser says came from another site."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        raise Forbidden(REFUSED_FORM, code="csrf_failed")
    origin = request.headers.get("Origin")
    if origin is None:
        return  # older browsers and non-browser clients: the token alone decides
    allowed = {_origin(public_url), f"{request.scheme}://{request.host}".lower()}
    if origin.lower() not in allowed:
        raise Forbidden(REFUSED_FORM, code="csrf_failed")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()
