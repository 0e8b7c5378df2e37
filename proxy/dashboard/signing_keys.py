"""The signing keys page: the key lifecycle, and rotation and retirement for platform operators.

Signing keys belong to the platform, not to an organisation: every organisation's tokens are
signed with the same keys.  So only platform operators (``audit.operators``) see this page and act
on it; an organisation admin could neither do anything about a key nor needs its kids, and the
JWKS already publishes what relying parties need.  A page an admin may not open is a 404, like
an id of another organisation.

Rotating and retiring go through ``SigningKeys`` like ``rowgate keys rotate|retire``: the same
lifecycle steps, the same audit events (``key.published``, ``key.rotated``, ``key.retired``),
here naming the operator, their session and client; every instance hears of the change at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from aiohttp import web

from rowgate.auth.tokens.lifecycle import KeyRow
from rowgate.errors import BadRequest, NotFound
from rowgate.proxy.appkeys import SERVICES, SETTINGS
from rowgate.proxy.dashboard.guard import form_of
from rowgate.proxy.dashboard.page import Page, Route
from rowgate.proxy.dashboard.render import render
from rowgate.proxy.dashboard.session import Admin
from rowgate.proxy.handlers.context import client_context
from rowgate.proxy.keys_cli import describe, state_note

ALGORITHMS = ("EdDSA", "ES256", "RS256", "HS256")
_KID_LENGTH = 200


@dataclass(frozen=True, slots=True)
class KeyLine:
    """A key as the page shows it: its row and what its state means in time."""

    row: KeyRow
    #: ``signs from …``, ``signing since …``, ``verifies until …``, ``retired …``.
    note: str
    retirable: bool


def require_operator(admin: Admin) -> None:
    if not admin.operator:
        raise NotFound("No such page.", code="not_found")


def line(row: KeyRow, lifetime: timedelta) -> KeyLine:
    return KeyLine(row, state_note(row, lifetime, _when), row.state in ("next", "retiring"))


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


async def view(request: web.Request, admin: Admin, notice: str | None = None) -> web.StreamResponse:
    require_operator(admin)
    services = request.app[SERVICES]
    settings = request.app[SETTINGS].tokens
    rows = await services.keys.listing()
    return render(
        request,
        admin,
        "signing_keys.html",
        title="Signing keys",
        keys=[line(row, settings.retired_key_lifetime) for row in rows],
        algorithm=settings.algorithm,
        algorithms=ALGORITHMS,
        publish_ahead=settings.publish_ahead,
        lifetime=settings.retired_key_lifetime,
        notice=notice,
    )


async def rotate(request: web.Request, admin: Admin) -> web.StreamResponse:
    """Publish the next key (or promote a due one); ``now`` set: the emergency rotation."""
    require_operator(admin)
    form = form_of(request)
    algorithm = str(form.get("algorithm") or request.app[SETTINGS].tokens.algorithm)
    if algorithm not in ALGORITHMS:
        raise BadRequest(f"algorithm: expected one of {', '.join(ALGORITHMS)}.", code="invalid_algorithm")
    at_once = form.get("now") == "yes"
    by = (client_context(request), admin.user_id, admin.session_id)
    changes = await request.app[SERVICES].keys.rotate(algorithm, at_once=at_once, by=by)
    settings = request.app[SETTINGS]
    done = " ".join(f"{describe(change, settings)}." for change in changes)
    return await view(
        request, admin, done or "A next key is already published and not due yet: it signs at the time shown."
    )


async def retire(request: web.Request, admin: Admin) -> web.StreamResponse:
    require_operator(admin)
    kid = request.match_info["kid"]
    if len(kid) > _KID_LENGTH:
        raise NotFound("No such signing key.", code="not_found")
    by = (client_context(request), admin.user_id, admin.session_id)
    change = await request.app[SERVICES].keys.retire(kid, by=by)
    return await view(request, admin, describe(change, request.app[SETTINGS]) + ".")


PAGE = Page(
    "/keys/signing",
    "Signing keys",
    view,
    routes=(
        Route("POST", "/keys/signing/rotate", rotate, "Rotate the signing key", form=("algorithm", "now")),
        Route("POST", "/keys/signing/{kid}/retire", retire, "Retire a next or retiring signing key"),
    ),
    needs_org=False,
    operators_only=True,
)
