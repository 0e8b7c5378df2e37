"""Authenticators: each looks for one kind of credential and answers a Principal, or None.

The pipeline asks them in order (``authenticators_for``): external issuers' tokens, then
rowgate's own tokens, then API keys.  The first that finds its kind of credential decides, and an
invalid credential raises rather than falling through to a guest.  A request carrying both a
Bearer token and ``X-API-Key`` is decided by the token (the key is not looked at).

A Bearer token is an external issuer's when its *unverified* ``iss`` names a configured external
issuer: that only chooses the verifier (whose keys, audiences and rules apply), and the rowgate
authenticator never sees such a token.  Any other Bearer token must be rowgate's own.

Permissions of users (rowgate's and external issuers') are derived on each request from the
tenant and role (``RoleCatalog``), never read from the token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from rowgate.auth.alerts.networks import KeySightings
from rowgate.auth.apikeys.verify import ApiKeyVerifier
from rowgate.auth.external.verify import ExternalIssuers
from rowgate.auth.principal import Principal
from rowgate.auth.rbac.catalog import RoleCatalog
from rowgate.auth.rbac.permissions import NONE
from rowgate.auth.sessions.issuing import ENROLMENT_CLAIM
from rowgate.auth.sessions.revocation import RevocationList
from rowgate.auth.tokens.claims import AccessClaims
from rowgate.auth.tokens.service import TokenService
from rowgate.errors import InvalidCredentials, InvalidToken
from rowgate.proxy.appkeys import CLIENT_IP
from rowgate.proxy.services import Services

#: Looks at a request: a Principal, or None when it carries no credential of this kind.
Authenticator = Callable[[web.Request], Awaitable[Principal | None]]

API_KEY_HEADER = "X-API-Key"

_MEMBERLESS = frozenset({"user"})
#: Principals a Bearer authenticator keeps at most (forgotten all at once past that).
MAX_PRINCIPALS = 10_000


def bearer_token(request: web.Request) -> str | None:
    """The token of ``Authorization: Bearer <token>``; None without a Bearer header."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    if not token:
        raise InvalidToken("The Authorization header holds no token after 'Bearer'.")
    return token


class BearerAuthenticator:
    """``Authorization: Bearer <rowgate access token>``: verified locally (cached), revocation checked."""

    def __init__(self, tokens: TokenService, revocations: RevocationList, catalog: RoleCatalog) -> None:
        self.tokens = tokens
        self.revocations = revocations
        self.catalog = catalog
        #: The principals of verified claims that nothing but the claims decide (no organisation,
        #: or a built-in role: permissions and groups from config), by the claims object the token
        #: service caches for a token (kept alive here, so its id names no other).
        self._principals: dict[int, tuple[AccessClaims, Principal]] = {}

    async def __call__(self, request: web.Request) -> Principal | None:
        token = bearer_token(request)
        if token is None:
            return None
        claims = self.tokens.verify_access(token, revoked=self.revocations.is_revoked)  # every time
        known = self._principals.get(id(claims))
        if known is not None and known[0] is claims:
            return known[1]
        principal = await self._principal(claims)
        if claims.org_id is None or claims.role in self.catalog.builtin:
            if len(self._principals) >= MAX_PRINCIPALS:
                self._principals.clear()
            self._principals[id(claims)] = (claims, principal)
        return principal

    async def _principal(self, claims: AccessClaims) -> Principal:
        org_id, role = claims.org_id, claims.role
        return Principal(
            method="mfa" if "mfa" in claims.amr else "password",
            user_id=claims.sub,
            org_id=org_id,
            role=role,
            permissions=await self.catalog.permissions(org_id, role) if org_id else NONE,
            session_id=claims.sid,
            scopes=claims.scopes,
            amr=claims.amr,
            auth_time=claims.auth_time,
            mfa_enrolment_required=claims.extra.get(ENROLMENT_CLAIM) is True,
            token_id=claims.jti,
            groups=self.catalog.groups(role) if org_id else _MEMBERLESS,
            expires_at=claims.exp,
        )


class ExternalAuthenticator:
    """A Bearer token whose ``iss`` is a configured external issuer, verified against its JWKS."""

    def __init__(self, issuers: ExternalIssuers, catalog: RoleCatalog) -> None:
        self.issuers = issuers
        self.catalog = catalog

    async def __call__(self, request: web.Request) -> Principal | None:
        token = bearer_token(request)
        if token is None:
            return None
        verifier = self.issuers.issuer_of(token)
        if verifier is None:
            return None  # not an external issuer's token: rowgate's own authenticator decides
        identity = await verifier.verify(token)
        org_id, role = identity.org_id, identity.role
        return Principal(
            method="external",
            user_id=identity.user_id,
            org_id=org_id,
            role=role,
            permissions=await self.catalog.permissions(org_id, role) if org_id else NONE,
            amr=("ext",),
            token_id=identity.token_id,
            groups=self.catalog.groups(role) if org_id else _MEMBERLESS,
            expires_at=identity.expires_at,
        )


class ApiKeyAuthenticator:
    """``X-API-Key: rg_sk_...`` or ``rg_pk_...``: the key's tenant, scopes and groups."""

    def __init__(self, verifier: ApiKeyVerifier, sightings: KeySightings | None = None) -> None:
        self.verifier = verifier
        self.sightings = sightings

    async def __call__(self, request: web.Request) -> Principal | None:
        key = request.headers.get(API_KEY_HEADER)
        if key is None:
            return None
        key = key.strip()
        if not key:
            raise InvalidCredentials(f"The {API_KEY_HEADER} header is empty.", code="invalid_api_key")
        principal = await self.verifier.authenticate(key)
        if self.sightings is not None and principal.api_key_id is not None:
            self.sightings.saw(principal.api_key_id, principal.org_id, request[CLIENT_IP])
        return principal


def api_key_of(request: web.Request, principal: Principal) -> str | None:
    """The API key ``principal`` was authenticated with; None when it came from something else."""
    if principal.api_key_id is None:
        return None
    return request.headers.get(API_KEY_HEADER, "").strip() or None


def authenticators_for(services: Services) -> tuple[Authenticator, ...]:
    """The authenticators, in the order they are asked."""
    tenancy = services.tenancy
    authenticators: list[Authenticator] = []
    if tenancy.issuers:  # only then is a Bearer token's iss worth a look
        authenticators.append(ExternalAuthenticator(tenancy.issuers, tenancy.catalog))
    authenticators.append(BearerAuthenticator(services.tokens, services.revocations, tenancy.catalog))
    sightings = services.alerts.sightings if services.settings.alerts.enabled else None
    authenticators.append(ApiKeyAuthenticator(tenancy.key_verifier, sightings))
    return tuple(authenticators)
