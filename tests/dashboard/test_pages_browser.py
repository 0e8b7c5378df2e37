"""Every page of the dashboard in a real headless Chromium: what an admin sees and does."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from rowgate.proxy.dashboard.pages import PAGES
from tests.dashboard.conftest import MOUNT, ON_MODULE_LOOP, Dashboard
from tests.proxy.authkit import PASSWORD

pytestmark = [pytest.mark.integration, ON_MODULE_LOOP]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'"
)


async def test_an_admin_with_mfa_signs_in_with_a_code(dashboard: Dashboard) -> None:
    admin = await dashboard.admin(mfa=True)
    browser_page = await dashboard.page()
    page = browser_page.page
    await page.goto(dashboard.url + "/members")
    await page.get_by_label("Email address").fill(admin.email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
    await page.get_by_label(re.compile("Code from your authenticator app")).fill("000000")
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_role("alert")).to_be_visible()
    assert admin.phone is not None
    await page.get_by_label(re.compile("Code from your authenticator app")).fill(admin.phone.fresh())
    await page.get_by_role("button", name="Continue").click()
    # Back where it was going before signing in.
    await expect(page.get_by_role("heading", name="Members")).to_be_visible()
    amr = await dashboard.db.fetchval(
        "SELECT amr FROM rowgate.sessions WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC",
        admin.user_id,
    )
    assert "mfa" in amr
    failed = await dashboard.db.fetchval(
        "SELECT count(*) FROM rowgate.audit_events WHERE user_id = $1 AND event = 'mfa.failed'", admin.user_id
    )
    assert failed == 1  # the wrong code was recorded as the API records it
    assert browser_page.problems == [], browser_page.problems


async def test_a_backup_code_signs_in_too(dashboard: Dashboard) -> None:
    admin = await dashboard.admin(mfa=True)
    browser_page = await dashboard.page()
    page = browser_page.page
    await page.goto(dashboard.url + "/signin")
    await page.get_by_label("Email address").fill(admin.email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_label(re.compile("Code from your authenticator app")).fill(admin.backup_codes[0])
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()


async def test_a_wrong_password_says_so_and_lets_nobody_in(dashboard: Dashboard) -> None:
    admin = await dashboard.admin()
    browser_page = await dashboard.page()
    page = browser_page.page
    await page.goto(dashboard.url + "/signin")
    await page.get_by_label("Email address").fill(admin.email)
    await page.get_by_label("Password").fill("Wrong-Horse-42")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text("The email address or the password is wrong.")
    await page.goto(dashboard.url + "/members")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


async def role_of(dashboard: Dashboard, user_id: str, org_id: str) -> str:
    query = "SELECT role FROM rowgate.memberships WHERE user_id = $1 AND org_id = $2"
    return str(await dashboard.db.fetchval(query, user_id, org_id))


async def test_members_a_role_changes_and_the_last_admin_stays(dashboard: Dashboard) -> None:
    browser_page, admin = await dashboard.signed_in_page()
    member = await dashboard.member(admin.org_id)
    page = browser_page.page
    await page.goto(dashboard.url + "/members")
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=member.email))
    await row.get_by_label(f"Role of {member.email}").select_option("admin")
    await row.get_by_role("button", name="Change").click()
    await expect(page.get_by_role("status")).to_have_text(f"{member.email} is now admin.")
    role = await dashboard.db.fetchval(
        "SELECT role FROM rowgate.memberships WHERE user_id = $1 AND org_id = $2",
        member.user_id,
        admin.org_id,
    )
    assert role == "admin"
    # Demote the new admin again, then try to demote oneself, the last admin: refused as by the API.
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=member.email))
    await row.get_by_label(f"Role of {member.email}").select_option("member")
    await row.get_by_role("button", name="Change").click()
    await expect(page.get_by_role("status")).to_have_text(f"{member.email} is now member.")
    mine = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=re.compile(admin.email)))
    await mine.get_by_label(f"Role of {admin.email}").select_option("member")
    await mine.get_by_role("button", name="Change").click()
    await expect(page.get_by_role("alert")).to_contain_text("last admin")
    assert await role_of(dashboard, admin.user_id, admin.org_id) == "admin"
    assert browser_page.problems == [], browser_page.problems


async def test_members_an_admin_removes_a_member(dashboard: Dashboard) -> None:
    browser_page, admin = await dashboard.signed_in_page()
    member = await dashboard.member(admin.org_id)
    page = browser_page.page
    await page.goto(dashboard.url + "/members")
    await page.get_by_role("button", name=f"Remove {member.email}").click()
    await expect(page.get_by_role("status")).to_have_text(
        f"{member.email} was removed from the organisation."
    )
    await expect(page.get_by_role("rowheader", name=member.email)).to_have_count(0)


async def test_invitations_one_is_created_then_revoked(dashboard: Dashboard) -> None:
    browser_page, admin = await dashboard.signed_in_page()
    page = browser_page.page
    await page.goto(dashboard.url + "/invitations")
    await page.get_by_label("Email address").fill("newcomer@example.com")
    await page.get_by_label("Role").select_option("member")
    await page.get_by_role("button", name="Send invitation").click()
    await expect(page.get_by_role("status")).to_have_text("newcomer@example.com was invited as member.")
    await expect(page.get_by_role("rowheader", name="newcomer@example.com")).to_be_visible()
    await page.get_by_role("button", name="Revoke the invitation of newcomer@example.com").click()
    await expect(page.get_by_role("status")).to_have_text("The invitation was revoked.")
    await expect(page.get_by_role("rowheader", name="newcomer@example.com")).to_have_count(0)
    open_ones = await dashboard.db.fetchval(
        "SELECT count(*) FROM rowgate.invitations WHERE org_id = $1 AND revoked_at IS NULL", admin.org_id
    )
    assert open_ones == 0
    assert browser_page.problems == [], browser_page.problems


async def test_sessions_an_admin_ends_a_member_s_session(dashboard: Dashboard) -> None:
    browser_page, admin = await dashboard.signed_in_page()
    member = await dashboard.member(admin.org_id)
    signed_in = await dashboard.api.signin(member.email)  # a session in the admin's organisation
    assert signed_in.status == 200, signed_in.body
    refresh = signed_in.body["refreshToken"]
    page = browser_page.page
    await page.goto(dashboard.url + "/members")
    await page.get_by_role("link", name=f"1 sessions of {member.email}").click()
    await expect(page.get_by_role("heading", name=f"Sessions of {member.email}")).to_be_visible()
    await page.get_by_role("button", name=re.compile("^End session on")).click()
    await expect(page.get_by_role("status")).to_have_text("The session was ended.")
    await expect(page.get_by_role("cell", name="No live sessions.")).to_be_visible()
    refreshed = await dashboard.api.call("POST", "/refresh", {"refreshToken": refresh})
    assert refreshed.status == 401
    assert browser_page.problems == [], browser_page.problems


async def test_api_keys_created_rotated_revoked(dashboard: Dashboard) -> None:
    browser_page, admin = await dashboard.signed_in_page()
    page = browser_page.page
    await page.goto(dashboard.url + "/api-keys")
    await page.get_by_label("Name").fill("billing job")
    await page.get_by_role("button", name="Create key").click()
    await expect(page.get_by_role("status")).to_have_text("Key 'billing job' created.")
    first = await page.get_by_role("textbox", name="New key").input_value()
    assert first.startswith("rg_sk_")
    async with dashboard.api.http.get(
        dashboard.server.url + "/v1/auth/me", headers={"X-API-Key": first}
    ) as response:
        assert response.status != 401  # the key is accepted as a credential
    await page.goto(dashboard.url + "/api-keys")  # shown once: opening the page again does not show it
    await expect(page.get_by_role("textbox", name="New key")).to_have_count(0)
    await page.get_by_label("Grace period for billing job").select_option("3600")
    await page.get_by_role("button", name="Rotate billing job").click()
    await expect(page.get_by_role("status")).to_have_text("Key 'billing job' rotated.")
    second = await page.get_by_role("textbox", name="New key").input_value()
    assert second.startswith("rg_sk_")
    assert second != first
    await expect(page.get_by_role("cell", name="rotating")).to_be_visible()
    for _ in range(2):  # the rotated key (in its grace period) and its successor
        await page.get_by_role("button", name="Revoke billing job").first.click()
        await expect(page.get_by_role("status")).to_have_text("The key was revoked.")
    await expect(page.get_by_role("cell", name="No keys yet.")).to_be_visible()
    live = await dashboard.db.fetchval(
        "SELECT count(*) FROM rowgate.api_keys WHERE org_id = $1 AND revoked_at IS NULL", admin.org_id
    )
    assert live == 0
    assert browser_page.problems == [], browser_page.problems


async def test_a_tampered_csrf_token_is_refused_and_nothing_changes(dashboard: Dashboard) -> None:
    browser_page, admin = await dashboard.signed_in_page()
    page = browser_page.page
    await page.goto(dashboard.url + "/invitations")
    await page.get_by_label("Email address").fill("mallory@example.com")
    await page.locator('form[action$="/invitations"] input[name="csrf"]').evaluate(
        "e => { e.value = 'x' + e.value }"
    )
    async with page.expect_response(dashboard.url + "/invitations") as answer:
        await page.get_by_role("button", name="Send invitation").click()
    assert (await answer.value).status == 403
    await expect(page.get_by_role("alert")).to_contain_text("reload the page and try again")
    count = await dashboard.db.fetchval(
        "SELECT count(*) FROM rowgate.invitations WHERE org_id = $1", admin.org_id
    )
    assert count == 0


async def test_ending_the_dashboard_session_elsewhere_ends_the_dashboard(dashboard: Dashboard) -> None:
    browser_page, admin = await dashboard.signed_in_page()
    page = browser_page.page
    signed_in = await dashboard.api.signin(admin.email)
    token = signed_in.body["accessToken"]
    listed = await dashboard.api.call("GET", "/sessions", token=token)
    # The API's calls say they are Firefox; the browser is the dashboard's session, listed with them.
    others = [s["id"] for s in listed.body["sessions"] if not s["device"].startswith("Firefox")]
    assert len(others) == 1, listed.body
    dashboard_session = others[0]
    ended = await dashboard.api.call("DELETE", f"/sessions/{dashboard_session}", token=token)
    assert ended.status == 204
    await page.goto(dashboard.url + "/members")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


async def test_every_page_has_the_strict_headers_and_no_console_errors(dashboard: Dashboard) -> None:
    browser_page, admin = await dashboard.signed_in_page()
    page = browser_page.page
    paths = ["", "/signin", *(page_.path for page_ in PAGES)]
    member = await dashboard.member(admin.org_id)
    paths.append(f"/members/{member.user_id}/sessions")
    for path in paths:
        response = await page.goto(dashboard.url + path)
        assert response is not None
        headers = await response.all_headers()
        assert headers["content-security-policy"] == CSP, path
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == "no-store"
        assert headers["referrer-policy"] in ("same-origin", "no-referrer")
        await expect(page.locator("h1")).to_be_visible()
    assert browser_page.problems == [], browser_page.problems


async def test_every_page_fits_a_phone_without_sideways_scrolling(dashboard: Dashboard) -> None:
    browser_page, admin = await dashboard.signed_in_page(width=375, height=740)
    await dashboard.member(admin.org_id)
    page = browser_page.page
    for path in ["", *(page_.path for page_ in PAGES)]:
        await page.goto(dashboard.url + path)
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (path, overflow)
    await page.goto(dashboard.url + "/signin")
    assert browser_page.problems == [], browser_page.problems
    assert MOUNT == "/admin"


async def test_an_admin_with_mfa_gives_a_fresh_code_before_creating_a_key(dashboard: Dashboard) -> None:
    admin = await dashboard.admin(mfa=True)
    browser_page, _ = await dashboard.signed_in_page(admin)
    page = browser_page.page
    # The code of the sign-in was given an hour ago (longer than auth.mfa.step_up_window).
    await dashboard.db.execute(
        "UPDATE rowgate.sessions SET mfa_at = now() - interval '1 hour' WHERE user_id = $1", admin.user_id
    )
    await page.goto(dashboard.url + "/api-keys")
    await page.get_by_label("Name").fill("deploy")
    await page.get_by_role("button", name="Create key").click()
    await expect(page.get_by_role("alert")).to_contain_text("needs a second factor")
    assert await dashboard.db.fetchval("SELECT count(*) FROM rowgate.api_keys") == 0
    assert admin.phone is not None
    await page.get_by_label(re.compile("Code from your authenticator app")).fill(admin.phone.fresh())
    await page.get_by_role("button", name="Confirm").click()
    await expect(page.get_by_role("heading", name="API keys")).to_be_visible()
    await page.get_by_label("Name").fill("deploy")
    await page.get_by_role("button", name="Create key").click()
    await expect(page.get_by_role("status")).to_have_text("Key 'deploy' created.")
    assert browser_page.problems == [], browser_page.problems
