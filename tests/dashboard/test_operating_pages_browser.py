"""The audit log, alerts, signing keys and playground pages in a real headless Chromium: what an
admin does with the mouse and keyboard, and what they then see; no console error, no CSP report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Page, expect

from rowgate.config import Settings
from rowgate.proxy.data.demo import create_demo_tables
from tests.conftest import RunningServer, SettingsFactory
from tests.dashboard.conftest import ON_MODULE_LOOP, Admin, Dashboard, on_module_loop
from tests.dashboard.pageskit import OPERATOR
from tests.dashboard.test_alerts_page import FAST_ALERTS, replay_refresh_token
from tests.dashboard.test_audit_page import event
from tests.proxy.authkit import Start
from tests.proxy.mfahttp import signed_up

pytestmark = [pytest.mark.integration, ON_MODULE_LOOP]

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


async def open_page(page: Page, title: str) -> None:
    """Follow the navigation's link to the page called ``title``."""
    await page.get_by_role("navigation", name="Dashboard").get_by_role("link", name=title).click()


@on_module_loop
async def server(
    dashboard_settings: SettingsFactory, start_rowgate: Start, migrated_database: str
) -> RunningServer:
    await create_demo_tables(migrated_database)
    settings: Settings = dashboard_settings(**{"audit.operators": [OPERATOR], **FAST_ALERTS})
    return await start_rowgate(settings)


async def test_an_admin_filters_the_audit_log(dashboard: Dashboard) -> None:
    admin = await dashboard.admin()
    await event(dashboard, "session.revoked", admin, at=T0, ip="192.0.2.44")
    await event(dashboard, "signin.failed", admin, at=T0 + timedelta(minutes=1), ip="192.0.2.44")
    await event(dashboard, "signin.failed", admin, at=T0 + timedelta(minutes=2), ip="198.51.100.1")
    browser_page, _ = await dashboard.signed_in_page(admin)
    page = browser_page.page
    await open_page(page, "Audit log")
    await expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    await page.get_by_label("Event starts with").fill("signin.")
    await page.get_by_label("Outcome").select_option("failure")
    await page.get_by_label("IP address").fill("192.0.2.44")
    await page.get_by_role("button", name="Filter").click()
    shown = page.locator("tr.event")
    await expect(shown).to_have_count(1)
    await expect(shown.first).to_contain_text("signin.failed")
    await expect(shown.first).to_contain_text("192.0.2.44")
    assert "outcome=failure" in page.url
    await page.get_by_role("link", name="Clear filters").click()
    await expect(page.locator("tr.event", has_text="session.revoked")).to_have_count(1)
    assert browser_page.problems == []


async def test_an_operator_rotates_a_signing_key_and_sees_the_states_change(dashboard: Dashboard) -> None:
    await signed_up(dashboard.api, OPERATOR, org_name="Platform")
    await dashboard.db.execute(
        "UPDATE rowgate.users SET email_verified_at = now() WHERE email = $1", OPERATOR
    )
    user_id = await dashboard.db.fetchval("SELECT id::text FROM rowgate.users WHERE email = $1", OPERATOR)
    browser_page, _ = await dashboard.signed_in_page(Admin(OPERATOR, user_id, ""))
    page = browser_page.page
    await open_page(page, "Signing keys")
    keys = page.locator("tr.key")
    await expect(keys).to_have_count(1)
    await expect(keys.first).to_contain_text("active")
    await page.get_by_role("button", name="Rotate signing key").click()
    await expect(page.get_by_role("status")).to_contain_text("published next signing key")
    await expect(keys).to_have_count(2)
    upcoming = keys.filter(has_text="next")
    await expect(upcoming).to_contain_text("signs from")
    await upcoming.get_by_role("button", name="Retire").click()
    await expect(page.get_by_role("status")).to_contain_text("retired signing key")
    await expect(keys.filter(has_text="retired")).to_have_count(1)
    await expect(keys.filter(has_text="active")).to_have_count(1)
    assert browser_page.problems == []


async def test_the_playground_shows_the_tenant_predicate(dashboard: Dashboard) -> None:
    browser_page, admin = await dashboard.signed_in_page()
    page = browser_page.page
    await open_page(page, "Policy playground")
    await page.get_by_label("SQL statement").fill("SELECT id, title FROM tasks WHERE NOT done")
    await page.get_by_label("Role").select_option("member")
    await page.get_by_role("button", name="Rewrite").click()
    await expect(page.locator("#rewritten")).to_contain_text('"org_id" = $1')
    await expect(page.get_by_text(admin.org_id).first).to_be_visible()
    await expect(page.locator("table.rules caption")).to_contain_text("public.tasks")
    assert browser_page.problems == []


async def test_the_alerts_page_lists_a_replayed_refresh_token(dashboard: Dashboard) -> None:
    admin = await dashboard.admin()
    member = await dashboard.member(admin.org_id)
    await replay_refresh_token(dashboard, member)
    browser_page, _ = await dashboard.signed_in_page(admin)
    page = browser_page.page
    await open_page(page, "Alerts")
    listed = page.locator("tr.alert", has_text="session token reused")
    await expect(listed).to_have_count(1)
    await expect(listed).to_contain_text(member.email)
    await page.get_by_label("Kind").select_option("lockout")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.get_by_text("No alerts of this kind.")).to_be_visible()
    assert browser_page.problems == []
