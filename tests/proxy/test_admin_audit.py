"""``/v1/admin/audit``: an organisation's admins read its events (filters, pages, NDJSON export);
platform operators read everyone's; every bad input is a 400 problem; the janitor purges old events."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from rowgate.auth.flows.janitor import purge
from rowgate.config import Settings
from tests.conftest import RunningServer, SettingsFactory
from tests.proxy.authkit import AGENT, Api
from tests.tenancykit import Member, Tenancy

pytestmark = pytest.mark.integration

Start = Callable[[Settings], Awaitable[RunningServer]]
AUDIT = "/v1/admin/audit"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def server(make_settings: SettingsFactory, start_rowgate: Start) -> RunningServer:
    return await start_rowgate(make_settings(**{"audit.operators": ["operator@example.com"]}))


@pytest.fixture
def t(server: RunningServer, http: aiohttp.ClientSession) -> Tenancy:
    return Tenancy(server, http)


async def event(
    t: Tenancy,
    name: str,
    who: Member | None,
    *,
    at: datetime = T0,
    ip: str = "203.0.113.9",
    org: bool = True,
) -> int:
    """An audit event written as rowgate writes them (the table is the interface)."""
    return int(
        await t.db.fetchval(
            "INSERT INTO rowgate.audit_events (at, event, user_id, org_id, ip, user_agent) "
            "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            at,
            name,
            who.user_id if who else None,
            who.org_id if who and org else None,
            ip,
            AGENT["User-Agent"],
        )
    )


async def ids(t: Tenancy, who: Member, query: str = "") -> list[str]:
    answer = await t.call("GET", AUDIT + query, who)
    assert answer.status == 200, answer.body
    return [e["id"] for e in answer.body["events"]]


async def test_admins_read_their_organisation_s_events_only(t: Tenancy) -> None:
    admin = await t.member()
    viewer = await t.member(admin.org_id, role="viewer")
    stranger = await t.member()
    mine = await event(t, "signin.succeeded", viewer)
    own = await event(t, "signin.failed", viewer, org=False)  # a member's, in no organisation
    await event(t, "signin.succeeded", stranger)
    await event(t, "signin.failed", stranger, org=False)
    assert await ids(t, admin) == [str(own), str(mine)]
    answer = await t.call("GET", AUDIT, admin)
    first = answer.body["events"][1]
    assert (first["event"], first["outcome"]) == ("signin.succeeded", "success")
    assert (first["userId"], first["orgId"], first["ip"]) == (viewer.user_id, admin.org_id, "203.0.113.9")
    assert (first["userAgent"], first["device"]) == (AGENT["User-Agent"], "Firefox on Linux")
    assert answer.headers["Cache-Control"] == "no-store"
    refused = await t.call("GET", AUDIT, viewer)
    assert (refused.status, refused.body["code"]) == (403, "admin_required")
    assert (await t.call("GET", AUDIT)).status == 401


async def test_platform_operators_read_every_organisation_s_events(t: Tenancy) -> None:
    first, second = await t.member(), await t.member()
    operator = await t.member(email="operator@example.com", role="viewer")
    seen = {await event(t, "signup", first), await event(t, "signup", second)}
    assert seen <= {int(i) for i in await ids(t, operator)}
    window = "from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z"
    async with t.http.get(f"{t.server.url}{AUDIT}/export?{window}", headers=operator.headers) as response:
        exported = {json.loads(line)["orgId"] for line in (await response.text()).splitlines()}
    assert {first.org_id, second.org_id} <= exported


async def test_filters_by_user_event_outcome_ip_and_time(t: Tenancy) -> None:
    admin = await t.member()
    other = await t.member(admin.org_id, role="viewer")
    a = await event(t, "signin.failed", admin, at=T0)
    b = await event(t, "signin.succeeded", other, at=T0 + timedelta(minutes=1), ip="2001:db8::1")
    c = await event(t, "refresh.reused", other, at=T0 + timedelta(minutes=2))
    d = await event(t, "member.role_changed", admin, at=T0 + timedelta(minutes=3))
    expected = {
        f"?user={other.user_id}": [c, b],
        "?event=signin": [b, a],
        "?event=refresh.reused": [c],
        "?outcome=failure": [c, a],
        "?outcome=success": [d, b],
        "?ip=2001:0db8:0:0::1": [b],
        "?from=2026-11-01T12:01:00Z&to=2026-11-01T12:03:00Z": [c, b],
        "?from=2026-11-01T13:01:00%2B01:00": [d, c, b],  # an offset other than Z
        "?outcome=failure&user=" + admin.user_id: [a],
    }
    for query, wanted in expected.items():
        assert await ids(t, admin, query) == [str(i) for i in wanted], query
    assert await ids(t, admin, "?from=2026-11-01T12:01:00Z&to=2026-11-01T12:03:00Z&event=signin.succeeded")


async def test_pages_never_repeat_or_skip_an_event_even_at_equal_times(t: Tenancy) -> None:
    admin = await t.member()
    made = {await event(t, "signin.succeeded", admin, at=T0 + timedelta(seconds=i // 3)) for i in range(11)}
    seen: list[str] = []
    cursor: str | None = None
    while True:
        answer = await t.call("GET", AUDIT + "?limit=4" + (f"&cursor={cursor}" if cursor else ""), admin)
        assert answer.status == 200, answer.body
        assert len(answer.body["events"]) <= 4
        seen += [e["id"] for e in answer.body["events"]]
        cursor = answer.body["next"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(str(i) for i in made)  # each once
    assert seen == [str(i) for i in sorted(made, reverse=True)]  # newest first (ids break ties)


async def test_a_cursor_does_not_widen_what_its_holder_reads(t: Tenancy) -> None:
    admin, stranger = await t.member(), await t.member()
    for _ in range(3):
        await event(t, "signup", stranger)
    cursor = (await t.call("GET", AUDIT + "?limit=1", stranger)).body["next"]
    assert cursor
    assert await ids(t, admin, f"?cursor={cursor}") == []


async def test_export_streams_a_time_range_as_ndjson(t: Tenancy, server: RunningServer) -> None:
    admin = await t.member()
    made = [await event(t, "signin.succeeded", admin, at=T0 + timedelta(seconds=i)) for i in range(7)]
    await event(t, "signin.succeeded", admin, at=T0 + timedelta(days=3))  # outside the range
    window = "from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z"
    for path, headers in (
        (f"{AUDIT}/export?{window}", {}),
        (f"{AUDIT}?{window}", {"Accept": "application/x-ndjson"}),
    ):
        async with t.http.get(server.url + path, headers={**admin.headers, **headers}) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "application/x-ndjson"
            lines = (await response.text()).splitlines()
        rows = [json.loads(line) for line in lines]
        assert [r["id"] for r in rows] == [str(i) for i in reversed(made)]
        assert all(r["orgId"] == admin.org_id for r in rows)
    exports = await t.audit(admin.org_id, "audit.exported")
    assert [(e["user_id"], json.loads(e["details"])) for e in exports] == 2 * [
        (
            admin.user_id,
            {"from": "2026-11-01T00:00:00+00:00", "to": "2026-11-02T00:00:00+00:00", "all": False},
        )
    ]
    missing = await t.call("GET", f"{AUDIT}/export?from=2026-11-01T00:00:00Z", admin)
    assert (missing.status, missing.body["code"]) == (400, "time_range_required")


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("?user=nobody", "invalid_user"),
        ("?event=Sign%20in", "invalid_event"),
        ("?event=" + "a" * 65, "invalid_event"),
        ("?outcome=maybe", "invalid_outcome"),
        ("?ip=300.1.1.1", "invalid_ip"),
        ("?from=yesterday", "invalid_time"),
        ("?from=2026-11-01T00:00:00", "invalid_time"),  # no offset
        ("?to=2026-11-01", "invalid_time"),
        ("?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z", "invalid_time_range"),
        ("?from=2026-11-01T00:00:00Z&to=2026-11-01T00:00:00Z", "invalid_time_range"),
        ("?limit=0", "invalid_limit"),
        ("?limit=501", "invalid_limit"),
        ("?limit=99999999999999999999", "invalid_limit"),
        ("?limit=-1", "invalid_limit"),
        ("?cursor=not-a-cursor", "invalid_cursor"),
        ("?cursor=" + "A" * 1000, "invalid_cursor"),
        ("?cursor=MjAyNi0xMS0wMVQxMjowMDowMHwx", "invalid_cursor"),  # no offset in the time
        ("?cursor=MjAyNi0xMS0wMVQxMjowMDowMCswMDowMHwtMQ", "invalid_cursor"),  # a negative id
        ("?usr=x", "unknown_parameter"),
    ],
)
async def test_bad_input_is_a_400_problem(t: Tenancy, query: str, code: str) -> None:
    admin = await t.member()
    answer = await t.call("GET", AUDIT + query, admin)
    assert (answer.status, answer.body["code"]) == (400, code), answer.body
    assert answer.headers["Content-Type"].startswith("application/problem+json")


async def test_real_sign_ins_are_recorded_with_ip_user_agent_and_device(
    server: RunningServer, http: aiohttp.ClientSession, t: Tenancy
) -> None:
    api = Api(http, server)
    signed_up = await api.signup("founder@example.com")
    assert signed_up.status in (200, 201), signed_up.body
    assert (await api.signin("founder@example.com", "Wrong-Password-1")).status == 401
    await api.signin("founder@example.com")
    token = signed_up.body["accessToken"]
    answer = await t.call("GET", AUDIT + "?event=signin", headers={"Authorization": f"Bearer {token}"})
    assert answer.status == 200, answer.body
    events = answer.body["events"]
    assert [(e["event"], e["outcome"]) for e in events] == [
        ("signin.succeeded", "success"),
        ("signin.failed", "failure"),
        ("signin.succeeded", "success"),  # the signup's own session
    ]
    assert all(e["ip"] == "127.0.0.1" and e["device"] == "Firefox on Linux" for e in events)


async def test_the_janitor_purges_events_past_the_audit_retention(t: Tenancy) -> None:
    admin = await t.member()
    await event(t, "signin.succeeded", admin, at=datetime.now(UTC) - timedelta(days=40))
    recent = await event(t, "signin.succeeded", admin, at=datetime.now(UTC) - timedelta(days=20))
    removed = await purge(t.db, timedelta(days=7), timedelta(days=30))
    assert removed["audit_events"] == 1
    assert await ids(t, admin) == [str(recent)]


async def test_sign_out_and_a_refused_refresh_are_recorded(
    server: RunningServer, http: aiohttp.ClientSession, t: Tenancy
) -> None:
    api = Api(http, server)
    first = (await api.signup("founder@example.com")).body
    assert (await api.call("POST", "/signout", token=first["accessToken"])).status == 204
    refused = await api.call("POST", "/refresh", {"refreshToken": first["refreshToken"]})
    assert refused.code == "session_revoked"
    token = (await api.signin("founder@example.com")).body["accessToken"]
    answer = await t.call("GET", AUDIT + "?event=s", headers={"Authorization": f"Bearer {token}"})
    assert [e["event"] for e in answer.body["events"]][:2] == ["signin.succeeded", "signout"]
    answer = await t.call("GET", AUDIT + "?outcome=failure", headers={"Authorization": f"Bearer {token}"})
    [event] = answer.body["events"]
    assert (event["event"], event["details"], event["sessionId"]) == (
        "refresh.refused",
        {"reason": "revoked"},
        first["sessionId"],
    )
