"""Alerts end to end: sign-ins, a replayed refresh token and an API key used over HTTP against a live
rowgate (real PostgreSQL, Redis, SMTP server and webhook receiver); each alert arrives as mail and as
a webhook whose signature verifies as the README says."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from rowgate.proxy.appkeys import SERVICES
from rowgate.proxy.demo import build_demo_app
from tests.auth.alerts.alertkit import LONDON, SYDNEY, write_geoip
from tests.auth.mail.smtpkit import smtp_server
from tests.conftest import SettingsFactory
from tests.proxy.authkit import FAST, PASSWORD, Api, Start

pytestmark = pytest.mark.integration
SECRET = "whsec-e2e-0123456789abcdef"
ROUTES = {"routes.default": "deny", "routes.rules": [{"path": "/api/**", "level": "authenticated"}]}


def verified(header: str, body: bytes) -> bool:
    parts = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(SECRET.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


async def alert_counts(http: aiohttp.ClientSession, url: str) -> dict[str, float]:
    """``rowgate_alerts_total`` per rule as /metrics shows it (counters live for the process)."""
    async with http.get(f"{url}/metrics") as response:
        text = await response.text()
    prefix = 'rowgate_alerts_total{rule="'
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(prefix):
            rule, value = line[len(prefix) :].split('"} ')
            counts[rule] = float(value)
    return counts


async def test_alerts_arrive_by_mail_and_signed_webhook(
    make_settings: SettingsFactory,
    start_rowgate: Start,
    start_app: Callable[[web.Application], Awaitable[str]],
    http: aiohttp.ClientSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hooks: list[dict[str, Any]] = []

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        assert verified(request.headers["Rowgate-Signature"], body)
        hooks.append(json.loads(body))
        return web.Response(status=204)

    receiver = web.Application()
    receiver.router.add_post("/hook", receive)
    hook_url = f"{await start_app(receiver)}/hook"
    upstream = await start_app(build_demo_app())
    monkeypatch.setenv("ROWGATE_ALERTS_WEBHOOK_SECRET", SECRET)
    with smtp_server() as (sink, port):
        settings = make_settings(
            **FAST,
            **ROUTES,
            **{
                "upstream.url": upstream,
                "server.trusted_proxies": ["127.0.0.1/32"],
                "mail.backend": "smtp",
                "mail.smtp": {"port": port, "security": "none"},
                "alerts.geoip_database": str(write_geoip(tmp_path / "city.mmdb")),
                "alerts.webhooks": [hook_url],
                "alerts.poll_interval": "100ms",
                "alerts.settle": "0s",
                "alerts.sightings_interval": "100ms",
            },
        )
        api = Api(http, await start_rowgate(settings))
        before = await alert_counts(http, api.server.url)
        london, sydney = {"X-Forwarded-For": LONDON}, {"X-Forwarded-For": SYDNEY}
        signup = await api.call(
            "POST", "/email/signup", {"email": "ann@example.com", "password": PASSWORD}, headers=london
        )
        assert signup.status == 201, signup.body
        again = await api.call(
            "POST", "/email/signin", {"email": "ann@example.com", "password": PASSWORD}, headers=london
        )
        assert again.status == 200  # the same place and device: nothing to tell
        far = await api.call(
            "POST", "/email/signin", {"email": "ann@example.com", "password": PASSWORD}, headers=sydney
        )
        assert far.status == 200  # alerts never refuse or delay a sign-in
        first = far.body["refreshToken"]
        assert (await api.call("POST", "/refresh", {"refreshToken": first}, headers=sydney)).status == 200
        db = api.server.app[SERVICES].db
        await db.execute("UPDATE rowgate.refresh_tokens SET used_at = used_at - interval '1 minute'")
        replay = await api.call("POST", "/refresh", {"refreshToken": first}, headers=sydney)
        assert replay.code == "refresh_token_reused"
        created = await api.call(
            "POST", "/api-keys", {"name": "ci", "type": "secret"}, token=signup.body["accessToken"]
        )
        assert created.status == 201, created.body
        for ip in (LONDON, "81.2.69.99", "2001:db8:1::5"):
            headers = {"X-API-Key": created.body["key"], "X-Forwarded-For": ip}
            async with http.get(f"{api.server.url}/api/whoami", headers=headers) as response:
                assert response.status == 200
        expected = {
            "alert.impossible_travel",
            "alert.new_device",
            "alert.refresh_reuse",
            "alert.api_key_network",
        }
        async with asyncio.timeout(30):  # generous: a busy machine is slow, not wrong
            while {hook["type"] for hook in hooks} != expected or len(sink.received) < 4:
                await asyncio.sleep(0.05)
    assert sorted(hook["type"] for hook in hooks) == sorted(expected)  # each once, nothing else
    travel = next(hook for hook in hooks if hook["type"] == "alert.impossible_travel")
    assert (travel["ip"], travel["details"]["from"], travel["details"]["to"]) == (SYDNEY, "GB", "AU")
    network = next(hook for hook in hooks if hook["type"] == "alert.api_key_network")
    assert network["details"] == {"keyId": created.body["id"], "network": "2001:db8:1::/48"}
    subjects = {str(received.message["Subject"]) for received in sink.received}
    assert "Security alert for ann@example.com on rowgate: sign-in from far away" in subjects
    assert all(received.recipients == ["ann@example.com"] for received in sink.received)
    after = await alert_counts(http, api.server.url)
    raised = {rule: after[rule] - before.get(rule, 0.0) for rule in after}
    assert {f"alert.{rule}": n for rule, n in raised.items() if n} == dict.fromkeys(expected, 1.0)
    trail = {
        row["event"]
        for row in await db.fetch("SELECT event FROM rowgate.audit_events WHERE event LIKE 'alert.%'")
    }
    assert trail == expected


async def test_webhooks_without_a_secret_stop_start_up_naming_the_key(
    make_settings: SettingsFactory, start_rowgate: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rowgate.errors import ConfigError

    monkeypatch.delenv("ROWGATE_ALERTS_WEBHOOK_SECRET", raising=False)
    settings = make_settings(**FAST, **{"alerts.webhooks": ["https://hooks.example.com/rowgate"]})
    with pytest.raises(ConfigError, match=r"alerts\.webhooks: set ROWGATE_ALERTS_WEBHOOK_SECRET"):
        await start_rowgate(settings)
