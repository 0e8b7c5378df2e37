"""An automated accessibility audit of every dashboard page in a real headless Chromium: axe-core
(npm ``axe-core``, installed in ``tests/dashboard/axe`` by ``npm ci``) checks each page, signed out
and signed in as an organisation admin who is also a platform operator (so every page is shown),
with the data the pages list and the states they pass through (a key's secret shown once, a
rewritten statement, a wrong password, the code step, an error page), at a desktop's width and a
phone's (where tables become cards), against the WCAG 2.0, 2.1 and 2.2 A and AA rules and axe's
best practices (landmarks, headings, regions).  No violation is allowed.

axe is loaded by evaluating its source through the DevTools protocol (``page.evaluate``), which a
page's Content-Security-Policy does not govern: the dashboard keeps its strict policy in these
tests, unchanged (``bypass_csp`` is not used, and the CSP test in ``test_pages_browser`` still
runs on the same pages).
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from rowgate.config import Settings
from rowgate.proxy.data.demo import create_demo_tables
from tests.conftest import RunningServer, SettingsFactory
from tests.dashboard.conftest import ON_MODULE_LOOP, Admin, BrowserPage, Dashboard, on_module_loop
from tests.dashboard.pageskit import OPERATOR
from tests.dashboard.test_alerts_page import FAST_ALERTS, replay_refresh_token
from tests.proxy.authkit import PASSWORD, Start
from tests.proxy.mfahttp import signed_up

pytestmark = [pytest.mark.integration, pytest.mark.slow, ON_MODULE_LOOP]

AXE = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
#: axe's tags of the rules checked: WCAG 2.0, 2.1 and 2.2 levels A and AA, and best practices.
RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
#: A desktop's viewport and a phone's.
SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 375, "height": 740}}


@functools.cache
def axe_source() -> str:
    """axe.min.js, after ``npm ci`` of its pinned version when missing (CI does it in .ci/run)."""
    if not AXE.exists():
        npm = shutil.which("npm")
        assert npm, "the accessibility tests need Node.js and npm for axe-core (see .ci/run)"
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=AXE.parents[2], check=True, capture_output=True
        )
    return AXE.read_text(encoding="utf-8")


@on_module_loop
async def server(
    dashboard_settings: SettingsFactory, start_rowgate: Start, migrated_database: str
) -> RunningServer:
    await create_demo_tables(migrated_database)
    settings: Settings = dashboard_settings(**{"audit.operators": [OPERATOR], **FAST_ALERTS})
    return await start_rowgate(settings)


async def violations(page: Page) -> list[str]:
    """axe's WCAG A/AA violations of the page as it is now: one line per rule and element."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(axe_source())
    assert await page.evaluate("typeof window.axe?.run") == "function", "axe-core did not load"
    options = {"runOnly": {"type": "tag", "values": RULES}, "resultTypes": ["violations"]}
    result: dict[str, Any] = await page.evaluate("options => axe.run(document, options)", options)
    return [
        f"{page.url}: {found['id']} ({found['impact']}): {found['help']} at {json.dumps(node['target'])}"
        f" ({node['failureSummary']})"
        for found in result["violations"]
        for node in found["nodes"]
    ]


async def audit(browser_page: BrowserPage, found: list[str]) -> None:
    """Audit the page shown, and check it reported no console error or CSP violation."""
    found.extend(await violations(browser_page.page))
    assert browser_page.problems == [], browser_page.problems


async def operator(dashboard: Dashboard) -> Admin:
    """The platform operator, first admin of an organisation of its own and admin of another, with
    a member who has a session, and an alert (a replayed refresh token)."""
    await signed_up(dashboard.api, OPERATOR, org_name="Platform")
    await dashboard.db.execute(
        "UPDATE rowgate.users SET email_verified_at = now() WHERE email = $1", OPERATOR
    )
    user_id, org_id = await dashboard.db.fetchrow(
        "SELECT u.id::text, m.org_id::text FROM rowgate.users u "
        "JOIN rowgate.memberships m ON m.user_id = u.id WHERE u.email = $1",
        OPERATOR,
    )
    who = Admin(OPERATOR, user_id, org_id)
    other = await dashboard.admin(org_name="Other")  # two organisations: the header's chooser
    await dashboard.db.execute(
        "INSERT INTO rowgate.memberships (org_id, user_id, role) VALUES ($1, $2, 'admin')",
        other.org_id,
        user_id,
    )
    member = await dashboard.member(org_id)
    assert (await dashboard.api.signin(member.email)).status == 200
    await replay_refresh_token(dashboard, who)
    return who


@pytest.mark.parametrize("size", SIZES)
async def test_every_signed_in_page_passes_the_wcag_aa_rules(dashboard: Dashboard, size: str) -> None:
    who = await operator(dashboard)
    browser_page, _ = await dashboard.signed_in_page(who, **SIZES[size])
    page, found = browser_page.page, []
    await expect(page.get_by_label("Organisation")).to_be_visible()
    await page.goto(dashboard.url + "/invitations")
    await page.get_by_label("Email address").fill("newcomer@example.com")
    await page.get_by_role("button", name="Send invitation").click()
    await expect(page.get_by_role("status")).to_be_visible()
    await audit(browser_page, found)  # a notice, and a table with a row

    await page.goto(dashboard.url + "/api-keys")
    await page.get_by_label("Name").fill("billing job")
    await page.get_by_role("button", name="Create key").click()
    await expect(page.get_by_role("textbox", name="New key")).to_be_visible()
    await audit(browser_page, found)  # the secret shown once, and the key's row

    await page.goto(dashboard.url + "/playground")
    await page.get_by_label("SQL statement").fill("SELECT id, title FROM tasks WHERE NOT done")
    await page.get_by_role("button", name="Rewrite").click()
    await expect(page.locator(".result")).to_be_visible()
    await audit(browser_page, found)  # the rewritten statement and the rules

    links = await page.get_by_role("navigation", name="Dashboard").get_by_role("link").all()
    paths = [await link.get_attribute("href") for link in links]
    assert len(paths) == 7, paths  # every page of the navigation, signing keys included
    member_id = await dashboard.db.fetchval(
        "SELECT user_id::text FROM rowgate.memberships WHERE org_id = $1 AND user_id <> $2",
        who.org_id,
        who.user_id,
    )
    for path in [dashboard.url, *paths, f"{dashboard.url}/members/{member_id}/sessions"]:
        await page.goto(dashboard.server.url + path if path and path.startswith("/") else str(path))
        await audit(browser_page, found)
    await page.goto(dashboard.url + "/members/00000000-0000-4000-8000-000000000000/sessions")
    await expect(page.locator("h1")).to_be_visible()
    found.extend(await violations(page))  # the 404 page (the console reports its status)
    assert found == [], "\n".join(found)


@pytest.mark.parametrize("size", SIZES)
async def test_the_sign_in_pages_pass_the_wcag_aa_rules(dashboard: Dashboard, size: str) -> None:
    browser_page = await dashboard.page(**SIZES[size])
    page, found = browser_page.page, []
    await page.goto(dashboard.url + "/signin")
    await audit(browser_page, found)
    assert found == [], "\n".join(found)
    await page.get_by_label("Email address").fill("nobody@example.com")
    await page.get_by_label("Password").fill("Wrong-password-1")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_be_visible()
    found.extend(await violations(page))  # the console reports the 401 of the page itself

    admin = await dashboard.admin(mfa=True)
    await page.get_by_label("Email address").fill(admin.email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_label("Code from your authenticator app", exact=False)).to_be_visible()
    found.extend(await violations(page))  # the code step
    assert found == [], "\n".join(found)
