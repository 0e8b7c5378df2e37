"""The application factory: middlewares, rowgate's own endpoints, then the upstream catch-all."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from rowgate.config.schema import Settings
from rowgate.proxy import metrics
from rowgate.proxy.authenticators import ApiKeyAuthenticator, BearerAuthenticator, ExternalAuthenticator
from rowgate.proxy.clientip import TrustedProxies
from rowgate.proxy.data import handlers_rest, handlers_sql
from rowgate.proxy.forward import Forwarder
from rowgate.proxy.handlers import (
    api_keys,
    auth_email,
    auth_password,
    auth_sessions,
    health,
    invitations,
    members,
    orgs,
    rbac,
    upstream,
    wellknown,
)
from rowgate.proxy.keys import FORWARDER, PIPELINE, SERVICES, SETTINGS, TRUSTED_PROXIES
from rowgate.proxy.middlewares import problems, request_context
from rowgate.proxy.pipeline import Authenticator, Pipeline, authentication
from rowgate.proxy.ratelimit import add_rate_limits
from rowgate.proxy.routes import RouteTable
from rowgate.proxy.services import Services, open_services

ServicesFactory = Callable[[Settings], contextlib.AbstractAsyncContextManager[Services]]


def build_pipeline(settings: Settings, services: Services) -> Pipeline:
    """The authenticators, in the order they are asked, and the compiled route rules."""
    tenancy = services.tenancy
    authenticators: list[Authenticator] = []
    if tenancy.issuers:  # only then is a Bearer token's iss worth a look
        authenticators.append(ExternalAuthenticator(tenancy.issuers, tenancy.catalog))
    authenticators.append(BearerAuthenticator(services.tokens, services.revocations, tenancy.catalog))
    authenticators.append(ApiKeyAuthenticator(tenancy.key_verifier))
    return Pipeline(authenticators=tuple(authenticators), routes=RouteTable(settings.routes))


def build_app(settings: Settings, services_factory: ServicesFactory = open_services) -> web.Application:
    """A ready-to-run rowgate application for ``settings``."""
    app = web.Application(
        middlewares=[request_context, problems, authentication],
        client_max_size=settings.server.max_body_size,
    )
    app[SETTINGS] = settings
    app[TRUSTED_PROXIES] = TrustedProxies(settings.server.trusted_proxies, settings.server.proxy_headers)
    add_rate_limits(app, settings)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            services = await stack.enter_async_context(services_factory(settings))
            app[SERVICES] = services
            app[PIPELINE] = build_pipeline(settings, services)
            if settings.upstream.url:
                forwarder = Forwarder(settings.upstream, app[TRUSTED_PROXIES])
                await forwarder.start()
                stack.push_async_callback(forwarder.close)
                app[FORWARDER] = forwarder
            yield

    app.cleanup_ctx.append(lifecycle)
    health.add_routes(app)
    if settings.server.metrics:
        metrics.add_routes(app)
    wellknown.add_routes(app)
    for area in (auth_email, auth_sessions, auth_password, api_keys, members, invitations, orgs):
        area.add_routes(app, settings.mounts.auth)
    rbac.add_routes(app, settings.mounts.rbac)
    handlers_rest.add_routes(app)
    handlers_sql.add_routes(app)
    upstream.add_routes(app)
    return app
