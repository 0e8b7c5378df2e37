"""Signing in to the dashboard (password, then a second factor when the account has one),
signing out, choosing an organisation, and the home page.

The first and second factor go through ``auth.flows.signin`` and ``auth.mfa.gate``, as the JSON
API does, so the same rate limits, lockouts and audit events apply.  A session opened for an
account that may not use the dashboard is ended at once (and the refusal says nothing the
password did not already prove).
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from aiohttp import web

from rowgate.auth.flows import signin as signin_flow
from rowgate.auth.mfa import gate
from rowgate.auth.mfa.challenge import MfaChallenge
from rowgate.auth.mfa.service import SecondFactor
from rowgate.auth.sessions import service as sessions
from rowgate.auth.sessions.issuing import TokenSet
from rowgate.errors import Forbidden, NotFound, Unauthorized
from rowgate.proxy.appkeys import SERVICES, SETTINGS
from rowgate.proxy.dashboard.guard import error_page, form_of, redirect
from rowgate.proxy.dashboard.render import render
from rowgate.proxy.dashboard.security import CSRF_FIELD, check_csrf, check_origin, csrf_token
from rowgate.proxy.dashboard.session import (
    NONCE_COOKIE,
    ORG_COOKIE,
    Admin,
    administered,
    clear_cookie,
    cookie_name,
    current_admin,
    read_cookie,
    set_cookie,
)
from rowgate.proxy.handlers.auth_http import client, identity, read_form
from rowgate.proxy.problem import status_of

MAX_FIELD = 4096


async def home(request: web.Request, admin: Admin) -> web.StreamResponse:
    return render(request, admin, "home.html", title="Overview")


async def signin_page(request: web.Request) -> web.StreamResponse:
    if await current_admin(request) is not None:
        return redirect(_next(request, request.query.get("next")))
    return _signin_form(request, next_path=request.query.get("next", ""))


async def signin(request: web.Request) -> web.StreamResponse:
    """The password step: the dashboard, the second-factor step, or the form again with why."""
    form = await _checked_form(request)
    next_path = form.get("next", "")
    email, password = form.get("email", ""), form.get("password", "")
    if not email or not password or len(email) > 1024 or len(password) > MAX_FIELD:
        return _signin_form(request, next_path, error="Enter your email address and password.", status=422)
    try:
        result = await signin_flow.signin(identity(request), email, password, client(request))
    except (Unauthorized, Forbidden) as error:
        return _signin_form(request, next_path, error=error.detail, status=status_of(error), email=email)
    if isinstance(result, MfaChallenge):
        return _mfa_form(request, result.mfa_token, next_path)
    return await _admit(request, result, next_path)


async def signin_mfa(request: web.Request) -> web.StreamResponse:
    """The second-factor step: a code from the authenticator app, or a backup code."""
    form = await _checked_form(request)
    next_path, mfa_token = form.get("next", ""), form.get("mfa_token", "")
    code = form.get("code", "").strip()
    if not code or len(code) > 64 or not mfa_token or len(mfa_token) > 1024:
        return _mfa_form(request, mfa_token, next_path, error="Enter the code.", status=422)
    second = SecondFactor(code=code) if code.isdigit() else SecondFactor(backup_code=code)
    try:
        tokens = await gate.verify(identity(request), mfa_token, second, client(request))
    except Unauthorized as error:
        if error.code == "invalid_mfa_token":
            return _signin_form(request, next_path, error=error.detail, status=401)
        return _mfa_form(request, mfa_token, next_path, error=error.detail, status=401)
    return await _admit(request, tokens, next_path)


async def signout(request: web.Request, admin: Admin) -> web.StreamResponse:
    await sessions.signout(identity(request), admin.user_id, admin.session_id, client(request))
    response = redirect(request.app[SETTINGS].dashboard.mount + "/signin")
    clear_cookie(response, request.app[SETTINGS], cookie_name(request.app[SETTINGS]))
    clear_cookie(response, request.app[SETTINGS], ORG_COOKIE)
    return response


async def choose_org(request: web.Request, admin: Admin) -> web.StreamResponse:
    """Open another of the organisations ``admin`` administers (any other id: 404)."""
    wanted = form_of(request).get("org", "")
    if not any(org.id == wanted for org in admin.orgs):
        raise NotFound("No such organisation among the ones you administer.", code="org_not_found")
    response = redirect(request.app[SETTINGS].dashboard.mount)
    set_cookie(response, request.app[SETTINGS], ORG_COOKIE, wanted)
    return response


async def _admit(request: web.Request, tokens: TokenSet, next_path: str) -> web.StreamResponse:
    """Let the new session in, or end it at once when the account may not use the dashboard."""
    settings = request.app[SETTINGS]
    services = request.app[SERVICES]
    row = await services.db.fetchrow(
        "SELECT user_id::text, amr FROM rowgate.sessions WHERE id = $1", tokens.session_id
    )
    if row is None:  # deleted in the meantime (the account withdrawn): nothing to let in
        raise Unauthorized("This sign-in ended before it completed; sign in again.", code="session_revoked")
    user_id, amr = row["user_id"], row["amr"]
    operator = await services.tenancy.audit_log.is_operator(user_id)
    allowed = operator or bool(await administered(request, user_id))
    if allowed and settings.dashboard.require_mfa and "mfa" not in amr:
        allowed = False
    if not allowed:
        await sessions.signout(identity(request), user_id, tokens.session_id, client(request))
        refusal = Forbidden(
            "This account cannot open the admin dashboard: it is for the admins of an organisation"
            + (" who sign in with two-factor authentication." if settings.dashboard.require_mfa else "."),
            code="dashboard_refused",
        )
        return error_page(request, None, refusal)
    response = redirect(_next(request, next_path))
    set_cookie(response, settings, cookie_name(settings), tokens.refresh_token)
    clear_cookie(response, settings, NONCE_COOKIE)
    return response


async def _checked_form(request: web.Request) -> dict[str, str]:
    """The sign-in form's fields, once its origin and its token (bound to the nonce cookie) pass."""
    check_origin(request, request.app[SETTINGS].public_url)
    form = await read_form(request)
    check_csrf(read_cookie(request, NONCE_COOKIE), form.get(CSRF_FIELD))
    return form


def _signin_form(
    request: web.Request, next_path: str, *, error: str | None = None, status: int = 200, email: str = ""
) -> web.StreamResponse:
    nonce = read_cookie(request, NONCE_COOKIE) or secrets.token_urlsafe(32)
    response = render(
        request,
        None,
        "signin.html",
        title="Sign in",
        status=status,
        csrf=csrf_token(nonce),
        error=error,
        email=email,
        next=_next(request, next_path),
    )
    set_cookie(response, request.app[SETTINGS], NONCE_COOKIE, nonce)
    return response


def _mfa_form(
    request: web.Request, mfa_token: str, next_path: str, *, error: str | None = None, status: int = 200
) -> web.StreamResponse:
    nonce = read_cookie(request, NONCE_COOKIE) or ""
    return render(
        request,
        None,
        "signin_mfa.html",
        title="Two-factor authentication",
        status=status,
        csrf=csrf_token(nonce) if nonce else "",
        error=error,
        mfa_token=mfa_token,
        next=_next(request, next_path),
    )


def _next(request: web.Request, wanted: str | None) -> str:
    """Where to go after signing in: a path below the mount, never anywhere else."""
    mount = request.app[SETTINGS].dashboard.mount
    if wanted:
        parts = urlsplit(wanted)
        path = parts.path
        if (
            not parts.scheme
            and not parts.netloc
            and (path == mount or path.startswith(mount + "/"))
            and "\\" not in wanted
            and not path.startswith(mount + "/signin")
        ):
            return wanted
    return mount
