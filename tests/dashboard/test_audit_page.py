"""The audit log page over HTTP: an admin reads their organisation's events only, filters them
(user by email, event prefix, outcome, IP, time range), pages both ways and exports the filter
as NDJSON; every bad filter is a 400 page saying what was wrong; an operator reads everyone's."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from rowgate.config import Settings
from tests.conftest import RunningServer, SettingsFactory
from tests.dashboard.conftest import ON_MODULE_LOOP, Admin, Dashboard, on_module_loop
from tests.dashboard.pageskit import OPERATOR, rows, visitor
from tests.proxy.authkit import Start
from tests.proxy.mfahttp import signed_up

pytestmark = [pytest.mark.integration, ON_MODULE_LOOP]

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def settings(dashboard_settings: SettingsFactory) -> Settings:
    return dashboard_settings(**{"audit.operators": [OPERATOR]})


@on_module_loop
async def server(settings: Settings, start_rowgate: Start) -> RunningServer:
    return await start_rowgate(settings)


async def event(
    dashboard: Dashboard,
    name: str,
    who: Admin,
    *,
    at: datetime = T0,
    ip: str = "203.0.113.9",
    details: dict[str, object] | None = None,
) -> int:
    return int(
        await dashboard.db.fetchval(
            "INSERT INTO rowgate.audit_events (at, event, user_id, org_id, ip, user_agent, details) "
            "VALUES ($1, $2, $3, $4, $5, 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 "
            "Firefox/128.0', $6::jsonb) RETURNING id",
            at,
            name,
            who.user_id,
            who.org_id,
            ip,
            json.dumps(details or {}),
        )
    )


async def test_an_admin_filters_their_organisation_s_events(dashboard: Dashboard) -> None:
    admin = await dashboard.admin()
    member = await dashboard.member(admin.org_id)
    stranger = await dashboard.admin(org_name="Other")
    await event(dashboard, "signin.failed", member, at=T0, ip="198.51.100.7", details={"reason": "password"})
    await event(dashboard, "signin.succeeded", member, at=T0 + timedelta(minutes=1), ip="198.51.100.7")
    await event(dashboard, "session.revoked", admin, at=T0 + timedelta(minutes=2), ip="192.0.2.1")
    await event(dashboard, "signin.failed", stranger, at=T0, ip="198.51.100.7")
    async with visitor(dashboard.url) as browser:
        await browser.sign_in(admin.email)
        page = await browser.get("/audit", ip="198.51.100.7")
        assert page.status == 200, page.words
        shown = rows(page, "event")
        assert len(shown) == 2  # the stranger's failure from the same address is not shown
        assert shown[0].startswith("2026-11-01 12:01:00 signin.succeeded success " + member.email)
        assert "signin.failed failure" in shown[1]
        assert 'reason: "password"' in shown[1]
        assert "Firefox on Linux" in shown[1]
        failures = rows(await browser.get("/audit", outcome="failure", event="signin."), "event")
        assert [row.split()[2] for row in failures if "198.51.100.7" in row] == ["signin.failed"]
        assert all(stranger.email not in row for row in failures)
        by_user = rows(await browser.get("/audit", user=member.email), "event")
        assert len(by_user) >= 2  # and the member's own sign-up
        assert all(member.email in row for row in by_user)
        assert not any("session.revoked" in row for row in by_user)
        windowed = await browser.get("/audit", **{"from": "2026-11-01T12:00:30", "to": "2026-11-01T12:05"})
        assert [row.split()[2] for row in rows(windowed, "event")] == ["session.revoked", "signin.succeeded"]
        assert "Export these events as NDJSON" in windowed.words


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ({"event": "Sign In!"}, "event: expected an event name"),
        ({"outcome": "maybe"}, "outcome: expected success or failure"),
        ({"ip": "300.1.1.1"}, "ip: expected an IP address"),
        ({"from": "yesterday"}, "from: expected an RFC 3339 time"),
        ({"from": "2026-11-02T00:00", "to": "2026-11-01T00:00"}, "from: must be before to"),
        ({"user": "not-an-id"}, "user: expected a user id"),
        ({"user": "nobody@example.com"}, "user: no member has the email address"),
        ({"older": "garbage"}, "cursor: expected the `next` value"),
        ({"colour": "red"}, "Unknown query parameter(s): colour"),
    ],
)
async def test_a_bad_filter_is_a_400_page_saying_why(
    dashboard: Dashboard, query: dict[str, str], says: str
) -> None:
    admin = await dashboard.admin()
    async with visitor(dashboard.url) as browser:
        await browser.sign_in(admin.email)
        page = await browser.get("/audit", **query)
    assert page.status == 400, page.words
    assert says in page.words
    assert page.headers["Content-Type"].startswith("text/html")
    assert "Content-Security-Policy" in page.headers


async def test_a_member_of_another_organisation_is_not_found_by_email(dashboard: Dashboard) -> None:
    admin = await dashboard.admin()
    stranger = await dashboard.admin(org_name="Other")
    await event(dashboard, "signin.failed", stranger)
    async with visitor(dashboard.url) as browser:
        await browser.sign_in(admin.email)
        page = await browser.get("/audit", user=stranger.email)
        assert page.status == 400
        assert "no member has the email address" in page.words
        by_id = await browser.get("/audit", user=stranger.user_id)
    assert by_id.status == 200
    assert rows(by_id, "event") == []


async def test_pages_go_older_and_back_newer(dashboard: Dashboard) -> None:
    admin = await dashboard.admin()
    for n in range(60):
        await event(dashboard, "refresh.succeeded", admin, at=T0 + timedelta(seconds=n), ip="192.0.2.60")
    async with visitor(dashboard.url) as browser:
        await browser.sign_in(admin.email)
        first = await browser.get("/audit", ip="192.0.2.60")
        assert len(rows(first, "event")) == 50
        assert "← Newer" not in first.words
        older = first.text.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0]
        second = await browser.get(older.replace("&amp;", "&").removeprefix("/admin"))
        shown = rows(second, "event")
        assert len(shown) == 10
        assert shown[-1].startswith("2026-11-01 12:00:00")
        assert "Older →" not in second.words
        assert "← Newer" in second.words


async def test_the_export_streams_the_filter_as_ndjson_and_is_recorded(dashboard: Dashboard) -> None:
    admin = await dashboard.admin()
    stranger = await dashboard.admin(org_name="Other")
    await event(dashboard, "signin.failed", admin, at=T0)
    await event(dashboard, "signin.failed", admin, at=T0 + timedelta(days=2))
    await event(dashboard, "signin.failed", stranger, at=T0)
    window = {"from": "2026-11-01T00:00", "to": "2026-11-02T00:00"}
    async with visitor(dashboard.url) as browser:
        await browser.sign_in(admin.email)
        exported = await browser.get("/audit/export", **window)
        assert exported.status == 200
        assert exported.headers["Content-Type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in exported.text.splitlines()]
        assert [(e["event"], e["userId"], e["at"]) for e in lines] == [
            ("signin.failed", admin.user_id, "2026-11-01T12:00:00Z")
        ]
        whole = await browser.get("/audit/export")
        assert whole.status == 400
        assert "An export needs a time range" in whole.words
    recorded = await dashboard.db.fetchval(
        "SELECT details::text FROM rowgate.audit_events WHERE event = 'audit.exported' AND user_id = $1",
        admin.user_id,
    )
    assert json.loads(recorded)["all"] is False


async def test_an_operator_reads_every_organisation_s_events(dashboard: Dashboard) -> None:
    await signed_up(dashboard.api, OPERATOR, org_name="Platform")
    await dashboard.db.execute(
        "UPDATE rowgate.users SET email_verified_at = now() WHERE email = $1", OPERATOR
    )
    one, two = await dashboard.admin(), await dashboard.admin(org_name="Other")
    await event(dashboard, "signin.failed", one, ip="192.0.2.77")
    await event(dashboard, "signin.failed", two, ip="192.0.2.77")
    async with visitor(dashboard.url) as browser:
        await browser.sign_in(OPERATOR)
        page = await browser.get("/audit", ip="192.0.2.77")
    assert sorted(row.split()[4] for row in rows(page, "event")) == sorted([one.email, two.email])
    assert "you are a platform operator" in page.words
