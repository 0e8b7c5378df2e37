"""Screenshots of the admin dashboard for the README: ``python -m tests.dashboard.screenshots``.

Starts rowgate on a database of its own (PostgreSQL and Redis as for the tests), fills one
organisation with members, sessions from several devices, API keys, an invitation, failed
sign-ins, a replayed refresh token (a real alert), signing keys at every stage, and writes PNGs of
the main pages, at desktop width and one at phone width, to ``docs/dashboard/``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
from playwright.async_api import Page, async_playwright

from rowgate.auth.actor import Actor
from rowgate.auth.audit import ClientContext
from rowgate.config import DEFAULT_CONFIG, load_settings
from rowgate.proxy.appkeys import SERVICES
from rowgate.proxy.data.demo import create_demo_tables
from tests.conftest import MIGRATED, REDIS_URL, RunningServer
from tests.dashboard.conftest import CHROMIUM, MOUNT
from tests.databases import new_database, prepare
from tests.proxy.authkit import FAST, PASSWORD, Api

OUT = Path(__file__).resolve().parents[2] / "docs" / "dashboard"
ADMIN = "ada@northwind.example"
ORG = "Northwind Labs"
DEVICES = {
    "chrome-mac": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "firefox-linux": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "safari-iphone": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "edge-windows": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
}
#: (email, name, role) of the organisation's other members.
MEMBERS = [
    ("grace@northwind.example", "Grace Hopper", "admin"),
    ("alan@northwind.example", "Alan Turing", "member"),
    ("katherine@northwind.example", "Katherine Johnson", "viewer"),
    ("linus@northwind.example", "Linus Pauling", "member"),
]


async def start(database_url: str, data_dir: Path) -> tuple[RunningServer, Any]:
    from rowgate.proxy.app import build_app
    from rowgate.proxy.server import start as start_server

    overrides = {
        **FAST,
        "database.url": database_url,
        "redis.url": REDIS_URL,
        "redis.key_prefix": f"rgshots:{secrets.token_hex(6)}:",
        "data_dir": str(data_dir),
        "server.port": 0,
        "logging.access_log": False,
        "audit.operators": [ADMIN],
        "server.trusted_proxies": ["127.0.0.1/32"],
        "alerts.poll_interval": "100ms",
        "alerts.settle": "0s",
        "mail.product_name": "Northwind",
    }
    settings = load_settings(DEFAULT_CONFIG, overrides=overrides, environ={})
    app = build_app(settings)
    runner, port = await start_server(app, settings, host="127.0.0.1", port=0)
    return RunningServer(f"http://127.0.0.1:{port}", app), runner


async def sign_in(api: Api, email: str, device: str, ip: str, password: str = PASSWORD) -> Any:
    headers = {"User-Agent": DEVICES[device], "X-Forwarded-For": ip}
    return await api.call("POST", "/email/signin", {"email": email, "password": password}, headers=headers)


async def seed(api: Api) -> dict[str, str]:
    """The demo organisation; the user ids by email."""
    services = api.server.app[SERVICES]
    db = services.db
    signed = await api.call(
        "POST",
        "/email/signup",
        {"email": ADMIN, "password": PASSWORD, "orgName": ORG},
        headers={"User-Agent": DEVICES["chrome-mac"], "X-Forwarded-For": "81.2.69.160"},
    )
    assert signed.status == 201, signed.body
    org_id = await db.fetchval("SELECT id::text FROM rowgate.orgs WHERE name = $1", ORG)
    ids = {ADMIN: await db.fetchval("SELECT id::text FROM rowgate.users WHERE email = $1", ADMIN)}
    await db.execute(
        "UPDATE rowgate.users SET name = 'Ada Lovelace', email_verified_at = now() WHERE email = $1", ADMIN
    )
    for email, name, role in MEMBERS:
        assert (await api.signup(email)).status == 201
        user_id = await db.fetchval("SELECT id::text FROM rowgate.users WHERE email = $1", email)
        ids[email] = user_id
        await db.execute(
            "UPDATE rowgate.users SET name = $2, email_verified_at = now() WHERE id = $1", user_id, name
        )
        await db.execute("DELETE FROM rowgate.memberships WHERE user_id = $1", user_id)
        await db.execute(
            "INSERT INTO rowgate.memberships (org_id, user_id, role) VALUES ($1, $2, $3)",
            org_id,
            user_id,
            role,
        )
    grace, alan, linus = MEMBERS[0][0], MEMBERS[1][0], MEMBERS[3][0]
    for device, ip in (
        ("chrome-mac", "81.2.69.160"),
        ("safari-iphone", "81.2.69.20"),
        ("firefox-linux", "90.80.70.5"),
    ):
        assert (await sign_in(api, grace, device, ip)).status == 200
    assert (await sign_in(api, MEMBERS[2][0], "edge-windows", "198.51.100.23")).status == 200
    for _ in range(4):
        await sign_in(api, alan, "firefox-linux", "203.0.113.50", password="wrong-password-1")
    assert (await sign_in(api, alan, "firefox-linux", "203.0.113.50")).status == 200
    stolen = await sign_in(api, linus, "chrome-mac", "192.0.2.14")
    token = stolen.body["refreshToken"]
    assert (await api.call("POST", "/refresh", {"refreshToken": token})).status == 200
    await db.execute("UPDATE rowgate.refresh_tokens SET used_at = used_at - interval '1 minute'")
    await api.call("POST", "/refresh", {"refreshToken": token}, headers={"X-Forwarded-For": "1.128.0.9"})
    actor = Actor(
        ids[ADMIN],
        org_id,
        "admin",
        frozenset({"*"}),
        True,
        None,
        ClientContext("81.2.69.160", DEVICES["chrome-mac"]),
    )
    tenancy = services.tenancy
    await tenancy.api_keys.create(
        actor, name="CI deploys", kind="secret", scopes=["tasks:read"], expires_at=None
    )
    await tenancy.api_keys.create(actor, name="Web app", kind="publishable", scopes=[], expires_at=None)
    await tenancy.invitations.create(actor, "margaret@northwind.example", "member")
    by = (ClientContext("81.2.69.160", DEVICES["chrome-mac"]), ids[ADMIN], None)
    await services.keys.rotate(at_once=True, by=by)
    await services.keys.rotate(by=by)
    await alerts_with_webhooks(api, ids, org_id)
    return ids


async def alerts_with_webhooks(api: Api, ids: dict[str, str], org_id: str) -> None:
    """Wait for the real alerts, and add one of another kind with its webhook deliveries."""
    db = api.server.app[SERVICES].db
    async with asyncio.timeout(60):
        while not await db.fetchval(
            "SELECT count(*) FROM rowgate.audit_events WHERE event = 'alert.refresh_reuse'"
        ):
            await asyncio.sleep(0.1)
    travel = await db.fetchval(
        "INSERT INTO rowgate.audit_events (event, user_id, org_id, ip, user_agent, details) "
        "VALUES ('alert.impossible_travel', $1, $2, '1.128.0.9', $3, $4::jsonb) RETURNING id",
        ids[MEMBERS[0][0]],
        org_id,
        DEVICES["safari-iphone"],
        json.dumps({"from": "GB", "to": "AU", "km": 16988, "minutes": 42}),
    )
    body = json.dumps({"type": "alert.impossible_travel", "id": travel})
    await db.execute(
        "INSERT INTO rowgate.webhook_outbox (url, body, attempts, sent_at) "
        "VALUES ('https://hooks.northwind.example/rowgate', $1, 1, now())",
        body,
    )
    await db.execute(
        "INSERT INTO rowgate.webhook_outbox (url, body, attempts, next_attempt_at, last_error) "
        "VALUES ('https://siem.northwind.example:8443/in', $1, 2, now() + interval '5 minutes', 'HTTP 503')",
        body,
    )


async def shoot(page: Page, name: str, *, tallest: int = 1500) -> None:
    """The page from its top, at most ``tallest`` CSS pixels of it (a long table is cut)."""
    await page.wait_for_load_state("networkidle")
    size = page.viewport_size or {"width": 1280, "height": 800}
    height = min(tallest, await page.evaluate("document.documentElement.scrollHeight"))
    clip = {"x": 0, "y": 0, "width": size["width"], "height": height}
    await page.screenshot(path=str(OUT / f"{name}.png"), full_page=True, clip=clip)
    print(f"wrote {OUT / f'{name}.png'}")


async def capture(base: str, ids: dict[str, str]) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        context = await browser.new_context(viewport={"width": 1280, "height": 800}, device_scale_factor=1)
        page = await context.new_page()
        await page.goto(base + "/signin")
        await page.get_by_label("Email address").fill(ADMIN)
        await shoot(page, "signin")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_load_state()
        for path, name in (
            ("/members", "members"),
            (f"/members/{ids[MEMBERS[0][0]]}/sessions", "sessions"),
            ("/api-keys", "api-keys"),
            ("/audit", "audit-log"),
            ("/alerts", "alerts"),
            ("/keys/signing", "signing-keys"),
        ):
            await page.goto(base + path)
            await shoot(page, name)
        await page.goto(base + "/playground")
        await page.get_by_label("SQL statement").fill(
            "SELECT id, title, priority FROM tasks WHERE NOT done ORDER BY priority DESC LIMIT 20"
        )
        await page.get_by_label("Role").select_option("member")
        await page.get_by_role("button", name="Rewrite").click()
        await shoot(page, "playground")
        phone = await browser.new_context(
            viewport={"width": 390, "height": 844},
            device_scale_factor=2,
            storage_state=await context.storage_state(),
        )
        small = await phone.new_page()
        await small.goto(base + "/audit?outcome=failure")
        await shoot(small, "audit-log-phone")
        await browser.close()


async def main(template: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as data_dir:
        async with new_database(template) as url:
            await create_demo_tables(url)
            server, runner = await start(url, Path(data_dir))
            try:
                async with aiohttp.ClientSession() as http:
                    ids = await seed(Api(http, server))
                await capture(server.url + MOUNT, ids)
            finally:
                await runner.cleanup()


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__).parse_args()
    asyncio.run(main(prepare(MIGRATED)))  # the template is built on a loop of its own
