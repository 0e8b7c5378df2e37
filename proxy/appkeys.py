"""Typed keys for what the application and each request carry."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from rowgate.auth.principal import Principal
from rowgate.config.schema import Settings
from rowgate.errors import RowgateError
from rowgate.proxy.clientip import TrustedProxies

if TYPE_CHECKING:
    from rowgate.proxy.pipeline import Pipeline
    from rowgate.proxy.services import Services

SETTINGS = web.AppKey("settings", Settings)
TRUSTED_PROXIES = web.AppKey("trusted_proxies", TrustedProxies)
SERVICES: web.AppKey[Services] = web.AppKey("services")
PIPELINE: web.AppKey[Pipeline] = web.AppKey("pipeline")

REQUEST_ID = web.RequestKey("request_id", str)
CLIENT_IP = web.RequestKey("client_ip", str)
PRINCIPAL = web.RequestKey("principal", Principal)
#: Why presented credentials were refused (the request then runs as a guest where that is allowed).
AUTH_ERROR: web.RequestKey[RowgateError | None] = web.RequestKey("auth_error")
