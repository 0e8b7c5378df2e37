"""A live rowgate with its admin dashboard, admins to sign in with, and a real headless Chromium.

Browser tests drive Debian's chromium (``/usr/bin/chromium``, installed by ``.ci/run``) through
Playwright's Python package.  ``Dashboard.signed_in_page`` opens a browser page signed in as an
organisation admin in one call; ``Dashboard.page`` opens one signed out.  Every page records the
console errors and CSP violations it saw (``BrowserPage.problems``), which tests assert empty.

Starting Chromium (and Playwright's driver) costs seconds, so the tests of a module share one,
launched when a test first opens a page; each test's pages get browser contexts of their own
(no cookies or storage shared), closed after it.  A browser belongs to the event loop it was
started on, so these tests run on one loop per module (``ON_MODULE_LOOP``, which each test module
marks), and every async fixture they use runs on it (``on_module_loop``: the shared ones are
declared again below for that).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, Playwright, async_playwright

from rowgate.proxy.appkeys import SERVICES
from tests.conftest import RunningServer, SettingsFactory, rowgate_starter
from tests.databases import new_database
from tests.mfakit import Authenticator
from tests.proxy.authkit import FAST, PASSWORD, Api, Start
from tests.proxy.mfahttp import enrolled, signed_up

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
#: The mark of the dashboard's test modules: their tests run on one event loop per module.
ON_MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")
#: Declares an async fixture (cached per test) that runs on the module's loop.
on_module_loop = pytest_asyncio.fixture(loop_scope="module")
MOUNT = "/admin"


@dataclass
class Admin:
    """An account made for a test: its address, user id, organisation and (with MFA) phone."""

    email: str
    user_id: str
    org_id: str
    phone: Authenticator | None = None
    backup_codes: list[str] = field(default_factory=list)


@dataclass
class BrowserPage:
    """A Playwright page with the console errors and CSP violations it reported."""

    page: Page
    problems: list[str]


class Chromium:
    """A headless Chromium launched on first use (many dashboard tests need no page at all);
    ``close`` ends it, if it was launched."""

    def __init__(self) -> None:
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None

    async def browser(self) -> Browser:
        if self._browser is None:
            self._playwright = await async_playwright().start()
            self._browser = await self._playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        return self._browser

    async def close(self) -> None:
        if self._browser is not None:
            await self._browser.close()
        if self._playwright is not None:
            await self._playwright.stop()


@dataclass
class Dashboard:
    server: RunningServer
    api: Api
    chromium: Chromium
    #: The browser contexts of this test's pages, closed after it.
    contexts: list[BrowserContext] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url + MOUNT

    @property
    def db(self) -> Any:
        return self.server.app[SERVICES].db

    async def admin(self, *, mfa: bool = False, org_name: str = "Acme") -> Admin:
        """A new account that is the first admin of a new organisation (with MFA on, if asked)."""
        email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
        phone, codes = None, []
        if mfa:
            _, phone, codes = await enrolled(self.api, email, org_name=org_name)
        else:
            await signed_up(self.api, email, org_name=org_name)
        user_id, org_id = await self.db.fetchrow(
            "SELECT u.id::text, m.org_id::text FROM rowgate.users u "
            "JOIN rowgate.memberships m ON m.user_id = u.id WHERE u.email = $1",
            email,
        )
        return Admin(email, user_id, org_id, phone, codes)

    async def member(self, org_id: str, role: str = "member") -> Admin:
        """A new account with ``role`` in ``org_id`` (and no organisation of its own)."""
        email = f"member-{uuid.uuid4().hex[:8]}@example.com"
        await signed_up(self.api, email)
        user_id = await self.db.fetchval("SELECT id::text FROM rowgate.users WHERE email = $1", email)
        await self.db.execute("DELETE FROM rowgate.memberships WHERE user_id = $1", user_id)
        await self.db.execute(
            "INSERT INTO rowgate.memberships (org_id, user_id, role) VALUES ($1, $2, $3)",
            org_id,
            user_id,
            role,
        )
        return Admin(email, user_id, org_id)

    async def page(self, *, width: int = 1280, height: int = 900) -> BrowserPage:
        """A fresh browser context (no cookies) and page, recording console errors and CSP reports."""
        browser = await self.chromium.browser()
        context = await browser.new_context(viewport={"width": width, "height": height})
        self.contexts.append(context)
        page = await context.new_page()
        problems: list[str] = []

        def console(message: ConsoleMessage) -> None:
            # A page answered with an error status (a wrong password: 401) is the page itself,
            # not a problem of it; anything else logged as an error or warning is.
            document = message.location.get("url") == page.url
            if message.type in ("error", "warning") and not (document and "Failed to load" in message.text):
                problems.append(f"{message.text} ({message.location.get('url')})")

        page.on("console", console)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("dialog", lambda dialog: dialog.accept())
        return BrowserPage(page, problems)

    async def sign_in(self, browser_page: BrowserPage, who: Admin, *, password: str = PASSWORD) -> None:
        """Sign ``browser_page`` in as ``who`` through the sign-in form (and the code step)."""
        page = browser_page.page
        await page.goto(self.url + "/signin")
        await page.get_by_label("Email address").fill(who.email)
        await page.get_by_label("Password").fill(password)
        await page.get_by_role("button", name="Sign in").click()
        if who.phone is not None:
            await page.get_by_label(re.compile("Code from your authenticator app")).fill(who.phone.fresh())
            await page.get_by_role("button", name="Continue").click()
        await page.wait_for_load_state()

    async def signed_in_page(self, who: Admin | None = None, **size: int) -> tuple[BrowserPage, Admin]:
        """A browser page signed in as ``who`` (a new organisation admin when None), in one call."""
        who = who or await self.admin()
        browser_page = await self.page(**size)
        await self.sign_in(browser_page, who)
        assert browser_page.page.url.startswith(self.url), browser_page.page.url
        return browser_page, who


@pytest.fixture
def dashboard_settings(make_settings: SettingsFactory) -> SettingsFactory:
    def make(**overrides: Any) -> Any:
        return make_settings(**{**FAST, **overrides})

    return make


@on_module_loop
async def server(dashboard_settings: SettingsFactory, start_rowgate: Start) -> RunningServer:
    return await start_rowgate(dashboard_settings())


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chromium() -> AsyncIterator[Chromium]:
    """One Chromium for the tests of a module (each test's pages have browser contexts of their
    own: no cookie or storage is shared)."""
    chromium = Chromium()
    try:
        yield chromium
    finally:
        await chromium.close()


@on_module_loop
async def dashboard(
    server: RunningServer, http: aiohttp.ClientSession, chromium: Chromium
) -> AsyncIterator[Dashboard]:
    dashboard = Dashboard(server, Api(http, server), chromium)
    try:
        yield dashboard
    finally:
        for context in dashboard.contexts:
            await context.close()


@on_module_loop
async def migrated_database(database_template: str) -> AsyncIterator[str]:
    async with new_database(database_template) as url:
        yield url


@on_module_loop
async def start_rowgate() -> AsyncIterator[Start]:
    async with rowgate_starter() as start:
        yield start


@on_module_loop
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


_CSRF = re.compile(r'name="csrf" value="([^"]*)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form of a dashboard page."""
    found = _CSRF.search(html)
    assert found is not None, "no form with a CSRF token on this page"
    return found.group(1)


async def http_sign_in(http: aiohttp.ClientSession, base: str, email: str, password: str = PASSWORD) -> int:
    """Sign ``http`` (a session with its own cookie jar) in through the form; the final status."""
    async with http.get(base + MOUNT + "/signin") as response:
        token = csrf_of(await response.text())
    form = {"csrf": token, "email": email, "password": password, "next": ""}
    async with http.post(base + MOUNT + "/signin", data=form) as response:
        await response.read()
        return response.status


@on_module_loop
async def browserless() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client with a cookie jar of its own (cookies of 127.0.0.1 kept), like one browser."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session
