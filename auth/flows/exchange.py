"""Handing a finished sign-in to the application without putting tokens in a URL.

A sign-in that ends in the browser (a magic link, a provider's callback) redirects to the
application's ``callbackUrl`` with a single-use ``code`` (RFC 6749's authorization code, in
spirit).  The application exchanges it at ``POST /token/exchange`` for the tokens, within
``auth.exchange_ttl``.  Only the code's digest is stored, and exchanging uses it up in the
statement that finds it.

When the application started the sign-in with a ``codeChallenge`` (PKCE, RFC 7636, S256 only),
the exchange needs the matching ``codeVerifier``: a code that leaks from the redirect (history,
logs, a Referer) is then worthless to whoever holds it.

``callbackUrl`` must be one of ``auth.callback_urls`` (scheme, host, port and path exactly), so a
link can never send a code to someone else's site (an open redirect).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from rowgate.auth.audit import ClientContext
from rowgate.auth.flows.completion import complete_signin
from rowgate.auth.flows.identity import Identity, plausible_token
from rowgate.auth.mfa.challenge import MfaChallenge
from rowgate.auth.repo import one_time_tokens, users
from rowgate.auth.sessions.issuing import TokenSet
from rowgate.auth.tokens.opaque import digest, new_token
from rowgate.errors import BadRequest, ValidationFailed

SIGNIN_CODE = "signin_code"
#: RFC 7636: a verifier is 43 to 128 characters of [A-Za-z0-9-._~]; an S256 challenge is 43.
VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
CHALLENGE = re.compile(r"^[A-Za-z0-9\-_]{43}$")
INVALID_CODE = "This code is invalid, used or expired; sign in again."


def allowed_callback(ident: Identity, url: str) -> str:
    """``url`` when it is one of the application's configured URLs; 400 ``callback_not_allowed``."""
    if callback_matches(url, ident.settings.auth.callback_urls):
        return url
    raise ValidationFailed(
        "callbackUrl is not one of the application's URLs this server may return to.",
        code="callback_not_allowed",
        errors=[{"field": "callbackUrl", "code": "callback_not_allowed", "message": "not allowed"}],
    )


def callback_matches(url: str, allowed: tuple[str, ...]) -> bool:
    """True when ``url`` has the scheme, host, port and path of one of ``allowed`` (no user info,
    no fragment)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.fragment or parts.username or parts.password or len(url) > 2048:
        return False
    return any(_base(parts) == _base(urlsplit(entry)) for entry in allowed)


def _base(parts: SplitResult) -> tuple[str, str, str]:
    return (parts.scheme.lower(), parts.netloc.lower(), parts.path or "/")


def checked_challenge(challenge: str | None) -> str | None:
    """An S256 ``codeChallenge`` as given, or 422 when it is not one."""
    if challenge is None or CHALLENGE.fullmatch(challenge):
        return challenge
    raise ValidationFailed(
        "codeChallenge must be the S256 challenge of a PKCE verifier (43 base64url characters).",
        code="invalid_code_challenge",
        errors=[
            {"field": "codeChallenge", "code": "invalid_code_challenge", "message": "not an S256 challenge"}
        ],
    )


def with_params(url: str, **params: str) -> str:
    """``url`` with ``params`` added to its query (those of the same names replaced)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    return urlunsplit(parts._replace(query=urlencode([*query, *params.items()])))


async def issue_code(
    ident: Identity, conn: asyncpg.Connection, user_id: str, email: str, method: str, challenge: str | None
) -> str:
    """A single-use code that signs ``user_id`` in by ``method`` (in the caller's transaction)."""
    code = new_token()
    await one_time_tokens.create(
        conn,
        purpose=SIGNIN_CODE,
        digest=digest(code),
        email=email,
        lifetime=ident.settings.auth.exchange_ttl,
        user_id=user_id,
        data={"method": method, "challenge": challenge},
    )
    return code


async def exchange(
    ident: Identity, code: str, verifier: str | None, client: ClientContext
) -> TokenSet | MfaChallenge:
    """The tokens for a code from ``issue_code`` (for a user with MFA, the challenge their code
    completes); 400 ``invalid_code`` for anything wrong with it."""
    if not plausible_token(code) or (verifier is not None and not VERIFIER.fullmatch(verifier)):
        raise BadRequest(INVALID_CODE, code="invalid_code")
    async with ident.db.transaction() as conn:
        found = await one_time_tokens.consume(conn, SIGNIN_CODE, digest(code))
        if found is None or found.user_id is None or not _proves(found.data.get("challenge"), verifier):
            raise BadRequest(INVALID_CODE, code="invalid_code")
        user = await users.by_id(conn, found.user_id)
        if user is None:
            raise BadRequest(INVALID_CODE, code="invalid_code")
        return await complete_signin(ident, conn, user, str(found.data["method"]), client)


def _proves(challenge: object, verifier: str | None) -> bool:
    """True without a challenge (and without a verifier: one sent for nothing is a mistake)."""
    if challenge is None:
        return verifier is None
    if verifier is None:
        return False
    computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return hmac.compare_digest(computed, str(challenge))
