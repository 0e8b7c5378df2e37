"""The caller of a tenancy endpoint, as a member of their active organisation.

``current_actor`` reads the caller's membership from the database on every call, so that a
member removed or demoted a moment ago acts with what they hold *now*, whatever their access
token still says (the token is revoked too; this is the second lock on the door).
"""

from __future__ import annotations

from aiohttp import web

from rowgate.auth.actor import Actor
from rowgate.auth.audit import ClientContext
from rowgate.auth.ids import canonical_uuid
from rowgate.auth.orgs.seams import SignedIn
from rowgate.errors import Forbidden
from rowgate.proxy.appkeys import CLIENT_IP, SERVICES
from rowgate.proxy.authorize import require_member, require_user


def client_context(request: web.Request) -> ClientContext:
    return ClientContext.of(request[CLIENT_IP], request.headers.get("User-Agent"))


def signed_in(request: web.Request) -> SignedIn:
    """The caller as a user signed in to rowgate, whatever their active organisation."""
    principal = require_user(request)
    user_id = canonical_uuid(principal.user_id)
    if user_id is None:
        raise Forbidden("This endpoint is for users signed in to rowgate.", code="rowgate_user_required")
    return SignedIn(user_id, principal.session_id, principal.amr, client_context(request))


async def current_actor(request: web.Request) -> Actor:
    principal = require_member(request)
    org_id, user_id = canonical_uuid(principal.org_id), canonical_uuid(principal.user_id)
    tenancy = request.app[SERVICES].tenancy
    role = None if org_id is None or user_id is None else await tenancy.members.current_role(org_id, user_id)
    if org_id is None or user_id is None or role is None:
        raise Forbidden("You are not a member of this organisation (any more).", code="not_a_member")
    return Actor(
        user_id=user_id,
        org_id=org_id,
        role=role,
        permissions=await tenancy.catalog.permissions(org_id, role),
        admin=tenancy.catalog.is_admin(role),
        session_id=principal.session_id,
        client=client_context(request),
    )
