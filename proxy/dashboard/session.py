"""The dashboard's sign-in: a real rowgate session, held in a cookie, checked on every request.

Signing in goes through the same services as ``POST /v1/auth/email/signin`` (rate limits,
lockouts, the MFA gate, audit events); the session it opens is an ordinary rowgate session, listed
with the user's other sessions.  The cookie holds that session's refresh token (stored only as
its digest, never rotated by the dashboard), and every request looks the session up in the
database: ending or revoking it (sign-out, an admin, the user's own session list, a reuse
detection) ends the dashboard too, on every instance, at the next click.

The cookie is HttpOnly, SameSite=Strict, and limited to the dashboard's mount so the upstream
app never receives it; over https it is Secure with the ``__Secure-`` prefix.  (``__Host-``
would demand ``Path=/``, which would send the session to every upstream path.)

Who gets in: admins of at least one organisation (a role of ``rbac.admin_roles``), and platform
operators (``audit.operators``).  ``dashboard.require_mfa`` refuses accounts without a second
factor; an organisation whose MFA policy covers an admin without one is not offered to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from rowgate.auth.actor import Actor
from rowgate.auth.mfa import policy
from rowgate.auth.orgs.switch import OrgView
from rowgate.auth.tokens.opaque import MAX_TOKEN_LENGTH, digest
from rowgate.config.schema import Settings
from rowgate.errors import Forbidden, NotFound
from rowgate.proxy.appkeys import SERVICES, SETTINGS
from rowgate.proxy.dashboard.security import csrf_token
from rowgate.proxy.handlers.context import client_context

ORG_COOKIE = "rowgate-dashboard-org"
NONCE_COOKIE = "rowgate-dashboard-signin"

_SESSION = """
SELECT s.id::text, s.user_id::text, s.amr, extract(epoch FROM COALESCE(s.mfa_at, s.created_at))::float8,
       u.email, u.name
FROM rowgate.refresh_tokens rt
JOIN rowgate.sessions s ON s.id = rt.session_id
JOIN rowgate.users u ON u.id = s.user_id
WHERE rt.digest = $1 AND rt.used_at IS NULL AND rt.expires_at > now()
  AND s.revoked_at IS NULL AND s.expires_at > now()
"""


@dataclass(frozen=True, slots=True)
class Admin:
    """The signed-in dashboard user, as every page handler receives them."""

    user_id: str
    email: str
    name: str | None
    session_id: str
    #: The session's ``amr`` and when its last factor was given (epoch seconds): for step-up checks.
    amr: tuple[str, ...]
    auth_time: int
    #: A platform operator (``audit.operators``): reads every organisation's audit trail.
    operator: bool
    #: The organisations this user administers (and may open), by name.
    orgs: tuple[OrgView, ...]
    #: The organisation chosen (``None``: an operator administering none).
    org: OrgView | None
    #: The acting admin in ``org``, for the tenancy services (``None`` without an organisation).
    actor: Actor | None
    #: The CSRF token every form of the page must send back (field ``csrf``).
    csrf: str = field(repr=False)

    def require_actor(self) -> Actor:
        """The admin acting in the chosen organisation; 404 when there is none."""
        if self.actor is None:
            raise NotFound("Choose an organisation you administer first.", code="no_organisation")
        return self.actor


def cookie_name(settings: Settings) -> str:
    return "__Secure-rowgate-dashboard" if _secure(settings) else "rowgate-dashboard"


def _secure(settings: Settings) -> bool:
    return settings.public_url.lower().startswith("https://")


def set_cookie(response: web.StreamResponse, settings: Settings, name: str, value: str) -> None:
    secure = _secure(settings)
    if name != cookie_name(settings) and secure:
        name = "__Secure-" + name
    response.set_cookie(
        name,
        value,
        path=settings.dashboard.mount,
        httponly=True,
        secure=secure,
        samesite="Strict",
    )


def clear_cookie(response: web.StreamResponse, settings: Settings, name: str) -> None:
    if name != cookie_name(settings) and _secure(settings):
        name = "__Secure-" + name
    response.del_cookie(name, path=settings.dashboard.mount, secure=_secure(settings), samesite="Strict")


def read_cookie(request: web.Request, name: str) -> str | None:
    settings = request.app[SETTINGS]
    if name != cookie_name(settings) and _secure(settings):
        name = "__Secure-" + name
    value = request.cookies.get(name)
    return value if value and len(value) <= MAX_TOKEN_LENGTH else None


async def current_admin(request: web.Request) -> Admin | None:
    """The signed-in admin of ``request``, or None (no cookie, an ended session, no longer an
    admin anywhere and no operator)."""
    settings = request.app[SETTINGS]
    token = read_cookie(request, cookie_name(settings))
    if token is None:
        return None
    services = request.app[SERVICES]
    row = await services.db.fetchrow(_SESSION, digest(token))
    if row is None:
        return None
    session_id, user_id, amr, auth_time, email, name = row.values()
    orgs = await administered(request, user_id)
    operator = await services.tenancy.audit_log.is_operator(user_id)
    if not orgs and not operator:
        return None
    org = _chosen(orgs, read_cookie(request, ORG_COOKIE))
    actor = None if org is None else await _actor(request, user_id, session_id, org)
    return Admin(
        user_id=user_id,
        email=email,
        name=name,
        session_id=session_id,
        amr=tuple(amr),
        auth_time=int(auth_time),
        operator=operator,
        orgs=tuple(orgs),
        org=org,
        actor=actor,
        csrf=csrf_token(token),
    )


async def administered(request: web.Request, user_id: str) -> list[OrgView]:
    """The organisations ``user_id`` administers now, except those whose MFA policy they fail."""
    tenancy = request.app[SERVICES].tenancy
    roles = request.app[SETTINGS].rbac.admin_roles
    found = []
    async with request.app[SERVICES].db.connection() as conn:
        for org in await tenancy.orgs.mine(user_id):
            if tenancy.catalog.is_admin(org.role) and not await policy.enrolment_required(
                conn, user_id, org.id, roles
            ):
                found.append(org)
    return sorted(found, key=lambda org: (org.name.casefold(), org.id))


def _chosen(orgs: list[OrgView], wanted: str | None) -> OrgView | None:
    for org in orgs:
        if org.id == wanted:
            return org
    return orgs[0] if orgs else None


async def _actor(request: web.Request, user_id: str, session_id: str, org: OrgView) -> Actor:
    catalog = request.app[SERVICES].tenancy.catalog
    return Actor(
        user_id=user_id,
        org_id=org.id,
        role=org.role,
        permissions=await catalog.permissions(org.id, org.role),
        admin=True,
        session_id=session_id,
        client=client_context(request),
    )


def refuse_admission() -> Forbidden:
    return Forbidden(
        "This account cannot open the admin dashboard: it is for the admins of an organisation.",
        code="dashboard_refused",
    )
