"""Signing in to the dashboard in a real browser: with a password, with a code, signing out."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.dashboard.conftest import ON_MODULE_LOOP, Dashboard

pytestmark = [pytest.mark.integration, ON_MODULE_LOOP]


async def test_an_admin_signs_in_sees_the_members_and_signs_out(dashboard: Dashboard) -> None:
    browser_page, admin = await dashboard.signed_in_page()
    page = browser_page.page
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    await page.get_by_role("navigation", name="Dashboard").get_by_role("link", name="Members").click()
    await expect(page.get_by_role("heading", name="Members")).to_be_visible()
    await expect(page.get_by_role("rowheader", name=admin.email)).to_be_visible()
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await page.goto(dashboard.url + "/members")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert browser_page.problems == [], browser_page.problems
