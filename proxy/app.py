"""The application factory: middlewares, rowgate's own endpoints, then the upstream catch-all.

The request pipeline itself (``proxy.pipeline``) is built at startup, once the services are open."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from rowgate.config.schema import Settings
from rowgate.proxy import dashboard, metrics, openapi
from rowgate.proxy.appkeys import PIPELINE, SERVICES, SETTINGS, TRUSTED_PROXIES
from rowgate.proxy.clientip import TrustedProxies
from rowgate.proxy.data import handlers_rest, handlers_sql
from rowgate.proxy.expect import defer_continue
from rowgate.proxy.forward import Forwarder
from rowgate.proxy.handlers import (
    admin_audit,
    admin_users,
    api_keys,
    auth_email,
    auth_magiclink,
    auth_mfa,
    auth_password,
    auth_sessions,
    auth_social,
    health,
    invitations,
    members,
    orgs,
    rbac,
    wellknown,
)
from rowgate.proxy.middlewares import request_context
from rowgate.proxy.pipeline import add_upstream_route, build_pipeline, pipeline
from rowgate.proxy.ratelimit import add_rate_limits
from rowgate.proxy.services import Services, open_services
from rowgate.proxy.sockets import SocketWatch

ServicesFactory = Callable[[Settings], contextlib.AbstractAsyncContextManager[Services]]


def build_app(settings: Settings, services_factory: ServicesFactory = open_services) -> web.Application:
    """A ready-to-run rowgate application for ``settings``."""
    app = web.Application(
        middlewares=[request_context, pipeline],
        client_max_size=settings.server.max_body_size,
    )
    app[SETTINGS] = settings
    app[TRUSTED_PROXIES] = TrustedProxies(settings.server.trusted_proxies, settings.server.proxy_headers)
    add_rate_limits(app, settings)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            services = await stack.enter_async_context(services_factory(settings))
            app[SERVICES] = services
            forwarder = None
            if settings.upstream.url:
                forwarder = Forwarder(settings.upstream, app[TRUSTED_PROXIES])
                await forwarder.start()
                stack.push_async_callback(forwarder.close)
            sockets = SocketWatch(services.revocations, services.tenancy.key_verifier)
            await sockets.start()
            stack.push_async_callback(sockets.close)
            app[PIPELINE] = build_pipeline(app, settings, services, forwarder, sockets)
            yield

    app.cleanup_ctx.append(lifecycle)
    health.add_routes(app)
    if settings.server.metrics:
        metrics.add_routes(app, settings)
    wellknown.add_routes(app)
    for area in (
        auth_email,
        auth_magiclink,
        auth_sessions,
        auth_social,
        auth_password,
        auth_mfa,
        api_keys,
        members,
        invitations,
        orgs,
    ):
        area.add_routes(app, settings.mounts.auth)
    rbac.add_routes(app, settings.mounts.rbac)
    admin_audit.add_routes(app, settings.mounts.admin)
    admin_users.add_routes(app, settings.mounts.admin)
    dashboard.add_routes(app, settings)
    handlers_rest.add_routes(app)
    handlers_sql.add_routes(app)
    openapi.add_routes(app)
    add_upstream_route(app)
    defer_continue(app.router)
    return app
