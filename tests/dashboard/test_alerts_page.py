"""The alerts page over HTTP: a real alert (a replayed refresh token) is listed for the admins
of the user's organisation, filtered by kind, with its webhooks' delivery state; another
organisation's alerts never show; a bad kind is a 400 page."""

from __future__ import annotations

import asyncio
import json

import pytest

from rowgate.config import Settings
from tests.conftest import RunningServer, SettingsFactory
from tests.dashboard.conftest import ON_MODULE_LOOP, Admin, Dashboard, on_module_loop
from tests.dashboard.pageskit import rows, visitor
from tests.proxy.authkit import PASSWORD, Start

pytestmark = [pytest.mark.integration, ON_MODULE_LOOP]

FAST_ALERTS = {"alerts.poll_interval": "100ms", "alerts.settle": "0s"}


@on_module_loop
async def server(dashboard_settings: SettingsFactory, start_rowgate: Start) -> RunningServer:
    settings: Settings = dashboard_settings(**FAST_ALERTS)
    return await start_rowgate(settings)


async def replay_refresh_token(dashboard: Dashboard, who: Admin) -> None:
    """Refresh twice with the same token, as a thief holding a copy would: rowgate ends the session
    and records ``refresh.reused``; the watcher raises ``alert.refresh_reuse`` for it."""
    signed_in = await dashboard.api.signin(who.email, PASSWORD)
    assert signed_in.status == 200, signed_in.body
    token = signed_in.body["refreshToken"]
    assert (await dashboard.api.call("POST", "/refresh", {"refreshToken": token})).status == 200
    # Past the grace in which a client's retry of a lost answer is not reuse:
    await dashboard.db.execute("UPDATE rowgate.refresh_tokens SET used_at = used_at - interval '1 minute'")
    replay = await dashboard.api.call("POST", "/refresh", {"refreshToken": token})
    assert replay.code == "refresh_token_reused"
    async with asyncio.timeout(30):  # generous: a busy machine is slow, not wrong
        while not await dashboard.db.fetchval(
            "SELECT count(*) FROM rowgate.audit_events WHERE event = 'alert.refresh_reuse' AND user_id = $1",
            who.user_id,
        ):
            await asyncio.sleep(0.05)


async def alert(dashboard: Dashboard, rule: str, who: Admin, ip: str = "192.0.2.8") -> int:
    """An alert event as ``dispatch`` writes it (the audit table is the interface)."""
    return int(
        await dashboard.db.fetchval(
            "INSERT INTO rowgate.audit_events (event, user_id, org_id, ip, details) "
            "VALUES ($1, $2, $3, $4, $5::jsonb) RETURNING id",
            f"alert.{rule}",
            who.user_id,
            who.org_id,
            ip,
            json.dumps({"eventId": 1, "sessionEnded": True}),
        )
    )


async def test_a_replayed_refresh_token_is_listed_and_filtered_by_kind(dashboard: Dashboard) -> None:
    admin = await dashboard.admin()
    member = await dashboard.member(admin.org_id)
    await replay_refresh_token(dashboard, member)
    async with visitor(dashboard.url) as browser:
        await browser.sign_in(admin.email)
        page = await browser.get("/alerts")
        assert page.status == 200, page.words
        [shown] = [row for row in rows(page, "alert") if "alert.refresh_reuse" in row]
        assert "session token reused alert.refresh_reuse" in shown
        assert member.email in shown
        assert "sessionEnded: true" in shown
        assert "no webhooks configured" in shown
        assert len(rows(await browser.get("/alerts", kind="refresh_reuse"), "alert")) == 1
        other = await browser.get("/alerts", kind="new_device")
        assert rows(other, "alert") == []
        assert "No alerts of this kind." in other.words


async def test_webhook_delivery_states_are_shown_per_alert(dashboard: Dashboard) -> None:
    admin = await dashboard.admin()
    raised = await alert(dashboard, "new_device", admin)
    body = json.dumps({"type": "alert.new_device", "id": raised})
    await dashboard.db.execute(
        "INSERT INTO rowgate.webhook_outbox (url, body, attempts, sent_at) "
        "VALUES ('https://hooks.example.com/in/secret-token?x=1', $1, 1, now())",
        body,
    )
    await dashboard.db.execute(
        "INSERT INTO rowgate.webhook_outbox (url, body, attempts, failed_at, last_error) "
        "VALUES ('https://siem.example.net:8443/rowgate', $1, 6, now(), 'HTTP 503')",
        body,
    )
    async with visitor(dashboard.url) as browser:
        await browser.sign_in(admin.email)
        [shown] = rows(await browser.get("/alerts"), "alert")
    assert "sent https://hooks.example.com (1 attempt)" in shown
    assert "failed https://siem.example.net:8443 (6 attempts) HTTP 503" in shown
    assert "secret-token" not in shown


async def test_another_organisation_s_alerts_are_never_shown(dashboard: Dashboard) -> None:
    admin = await dashboard.admin()
    stranger = await dashboard.admin(org_name="Other")
    await alert(dashboard, "failure_burst", stranger)
    await alert(dashboard, "lockout", admin)
    async with visitor(dashboard.url) as browser:
        await browser.sign_in(admin.email)
        page = await browser.get("/alerts")
    [shown] = rows(page, "alert")
    assert "alert.lockout" in shown
    assert stranger.email not in page.text


@pytest.mark.parametrize("query", [{"kind": "ufo"}, {"kind": "refresh_reuse", "older": "x"}, {"page": "2"}])
async def test_a_bad_filter_is_a_400_page(dashboard: Dashboard, query: dict[str, str]) -> None:
    admin = await dashboard.admin()
    async with visitor(dashboard.url) as browser:
        await browser.sign_in(admin.email)
        page = await browser.get("/alerts", **query)
    assert page.status == 400, page.words
