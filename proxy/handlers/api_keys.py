"""``/v1/auth/api-keys``: create (the key is in this answer only), list, revoke, rotate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from aiohttp import web
from pydantic import Field

from rowgate.auth.apikeys.service import Keep
from rowgate.config.limits import CallerLimit
from rowgate.proxy.appkeys import SERVICES
from rowgate.proxy.bodies import Body, parse_body
from rowgate.proxy.handlers import answers
from rowgate.proxy.handlers.auth_http import require_recent_mfa
from rowgate.proxy.handlers.context import current_actor
from rowgate.proxy.handlers.fields import Duration, Name, Permissions, RateLimit, Timestamp

NO_STORE = {"Cache-Control": "no-store"}


class CreateKey(Body):
    name: Name
    type: Literal["secret", "publishable"]
    scopes: Permissions = []
    expires_at: Timestamp | None = None
    rate_limit: RateLimit | None = None


class RotateKey(Body):
    grace_period: Duration = Field(timedelta(0), json_schema_extra={"default": 0})
    expires_at: Timestamp | None = None
    #: Left out: the old key's; ``null``: the configured one.
    rate_limit: RateLimit | None = None

    def new_rate_limit(self) -> CallerLimit | Literal[Keep.KEEP] | None:
        if "rate_limit" not in self.model_fields_set:
            return Keep.KEEP
        return None if self.rate_limit is None else self.rate_limit.limit_of()


async def create(request: web.Request) -> web.Response:
    actor = await current_actor(request)
    await require_recent_mfa(request)
    body = await parse_body(request, CreateKey)
    created = await request.app[SERVICES].tenancy.api_keys.create(
        actor,
        name=body.name,
        kind=body.type,
        scopes=body.scopes,
        expires_at=body.expires_at,
        rate_limit=None if body.rate_limit is None else body.rate_limit.limit_of(),
    )
    return web.json_response(answers.created_key(created, datetime.now(UTC)), status=201, headers=NO_STORE)


async def list_keys(request: web.Request) -> web.Response:
    actor = await current_actor(request)
    keys = await request.app[SERVICES].tenancy.api_keys.list(actor)
    now = datetime.now(UTC)
    return web.json_response({"keys": [answers.api_key(key, now) for key in keys]}, headers=NO_STORE)


async def revoke(request: web.Request) -> web.Response:
    actor = await current_actor(request)
    await request.app[SERVICES].tenancy.api_keys.revoke(actor, request.match_info["id"])
    return web.Response(status=204)


async def rotate(request: web.Request) -> web.Response:
    actor = await current_actor(request)
    await require_recent_mfa(request)
    body = await parse_body(request, RotateKey)
    created, previous = await request.app[SERVICES].tenancy.api_keys.rotate(
        actor, request.match_info["id"], body.grace_period, body.expires_at, body.new_rate_limit()
    )
    now = datetime.now(UTC)
    answer = {**answers.created_key(created, now), "previous": answers.api_key(previous, now)}
    return web.json_response(answer, status=201, headers=NO_STORE)


def add_routes(app: web.Application, mount: str) -> None:
    app.router.add_post(f"{mount}/api-keys", create)
    app.router.add_get(f"{mount}/api-keys", list_keys)
    app.router.add_delete(mount + "/api-keys/{id}", revoke)
    app.router.add_post(mount + "/api-keys/{id}/rotate", rotate)
