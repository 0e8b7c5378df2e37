"""The request pipeline, built once from validated config: every request, start to end, on one screen.

* **authenticate** (``proxy.authenticators``): each authenticator looks at the request and answers
  a ``Principal``, or ``None`` when it is not responsible (no credential of its kind).  The first
  answer wins; no answer at all makes the caller a guest.  A credential that is present but
  invalid raises, and the request continues as a guest with the error kept: public routes still
  work, every route that needs identity answers 401 with the reason.
* **rate limit** (``proxy.ratelimit``): the caller's budget, known only once it is authenticated.
* **enrolment first** (``proxy.authorize``): a member whose organisation requires MFA and who has
  none may only turn it on (403 ``mfa_enrolment_required`` for anything else).
* **route**: rowgate's own endpoints (the router found one) check what they need in their
  handlers (``proxy.authorize.require_*``); every other path is the upstream's and goes on:
* **authorize** (``proxy.paths``, ``proxy.own_paths``, ``proxy.routes``, ``proxy.authorize``): the
  canonical path, never one below rowgate's mount points, under the route rule that matches it.
* **rewrite** (``proxy.data_rules``): the owner check and the SQL rewrite a rule asks for.
* **mutate** (``proxy.mutate``): every ``X-Rowgate-*`` header the client sent is deleted, then the
  trusted identity headers are added (in the forwarder's one pass over the client's headers,
  ``Forwarder.outgoing_headers``, with the hop-by-hop and untrusted proxy headers).
* **forward** (``proxy.forward``): streamed to the upstream, and the answer streamed back; a
  WebSocket is watched while it is open (``proxy.sockets``) and closed once its credential is
  no longer accepted.

Around it (``proxy.middlewares``): the request id, access log, metrics and 499 for clients that
went away, and errors rendered as problem+json.
"""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from rowgate.auth.principal import GUEST, Principal
from rowgate.config.schema import Settings
from rowgate.errors import Forbidden, NotFound, RowgateError, ServiceUnavailable, Unauthorized
from rowgate.proxy.appkeys import AUTH_ERROR, PIPELINE, PRINCIPAL
from rowgate.proxy.authenticators import Authenticator, api_key_of, authenticators_for
from rowgate.proxy.authorize import authorize, enrolment_paths, require_enrolment_first
from rowgate.proxy.data_rules import UNCHANGED, apply_data_rules, asks_data_layer
from rowgate.proxy.forward import Forwarder
from rowgate.proxy.own_paths import OwnPaths
from rowgate.proxy.paths import canonical_path
from rowgate.proxy.ratelimit import CALLER_LIMITS, CallerLimits
from rowgate.proxy.routes import RouteTable
from rowgate.proxy.services import Services
from rowgate.proxy.sockets import SocketWatch


@dataclass(frozen=True, slots=True)
class Pipeline:
    """authenticate → rate limit → (rowgate's own endpoint | authorize → rewrite → mutate → forward)."""

    authenticators: tuple[Authenticator, ...]
    limits: CallerLimits | None
    own_paths: OwnPaths
    routes: RouteTable
    services: Services
    forwarder: Forwarder | None
    sockets: SocketWatch
    keep_bearer: bool
    #: What a member who must turn MFA on first may still call (``auth.mfa.policy``).
    enrolment: frozenset[tuple[str, str]]

    async def handle(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Every request: authenticate, spend the caller's budget, then rowgate's own endpoint or
        (the router's catch-all) ``upstream``."""
        principal, request[AUTH_ERROR] = await self.authenticate(request)
        request[PRINCIPAL] = principal
        if self.limits is not None:
            await self.limits.spend(request, principal, self.services.store)
        if principal.mfa_enrolment_required:
            require_enrolment_first(request, self.enrolment)
        return await handler(request)

    async def upstream(self, request: web.Request) -> web.StreamResponse:
        """A path none of rowgate's endpoints answers: authorize, rewrite, mutate, forward."""
        path = canonical_path(request.raw_path)  # the one reading shared by the rules and the app
        self.own_paths.refuse(path)
        match = self.routes.match(request.method, path)
        principal = authorize(request, match)
        if self.forwarder is None:
            raise NotFound("No such endpoint (no upstream is configured).")
        websocket = request.headers.get("Upgrade", "").lower() == "websocket"
        new = UNCHANGED
        if match.rule is not None and asks_data_layer(match.rule):
            new = await apply_data_rules(request, match, principal, self.services, websocket=websocket)
        headers = self.forwarder.outgoing_headers(request, principal, keep_bearer=self.keep_bearer)
        if websocket:
            with self.sockets.watching(principal, api_key_of(request, principal)) as watched:
                return await self.forwarder.forward_websocket(request, headers, path, watched.ended)
        return await self.forwarder.forward(request, headers, path, body=new.body, query=new.query)

    async def authenticate(self, request: web.Request) -> tuple[Principal, RowgateError | None]:
        """The first authenticator that is responsible decides; nobody responsible → guest.  A
        refused credential → guest, with the reason kept for whatever needs identity."""
        try:
            for authenticator in self.authenticators:
                principal = await authenticator(request)
                if principal is not None:
                    return principal, None
        except (Unauthorized, Forbidden, ServiceUnavailable) as error:
            return GUEST, error
        return GUEST, None


def build_pipeline(
    app: web.Application,
    settings: Settings,
    services: Services,
    forwarder: Forwarder | None,
    sockets: SocketWatch,
) -> Pipeline:
    """The pipeline for ``settings``; call it once every route of ``app`` is added."""
    return Pipeline(
        authenticators=authenticators_for(services),
        limits=app.get(CALLER_LIMITS),
        own_paths=OwnPaths.of(app.router, settings),
        routes=RouteTable(settings.routes),
        services=services,
        forwarder=forwarder,
        sockets=sockets,
        keep_bearer=settings.upstream.forward_bearer,
        enrolment=enrolment_paths(settings.mounts.auth),
    )


@web.middleware
def pipeline(request: web.Request, handler: Handler) -> Coroutine[Any, Any, web.StreamResponse]:
    """The pipeline as the innermost middleware (it is built at startup, once services are open).
    Not a coroutine of its own: it hands the pipeline's over (one frame fewer on every request)."""
    return request.app[PIPELINE].handle(request, handler)


async def upstream(request: web.Request) -> web.StreamResponse:
    """The catch-all route's handler: every path none of rowgate's endpoints answers."""
    return await request.app[PIPELINE].upstream(request)


def add_upstream_route(app: web.Application) -> None:
    """The catch-all route to the upstream; add it after every route of rowgate's own."""
    app.router.add_route("*", r"/{tail:[\s\S]*}", upstream)  # every path, line breaks included
