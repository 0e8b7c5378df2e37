"""The signing keys page over HTTP: platform operators see the lifecycle and rotate or retire
keys (the same audit events as ``rowgate keys``, naming the operator); organisation admins get
neither the page nor the actions; forms without the CSRF token change nothing."""

from __future__ import annotations

import json

import pytest

from rowgate.config import Settings
from rowgate.proxy.appkeys import SERVICES
from tests.conftest import RunningServer, SettingsFactory
from tests.dashboard.conftest import ON_MODULE_LOOP, Dashboard, on_module_loop
from tests.dashboard.pageskit import OPERATOR, rows, visitor
from tests.proxy.authkit import Start
from tests.proxy.mfahttp import signed_up

pytestmark = [pytest.mark.integration, ON_MODULE_LOOP]


@pytest.fixture
def settings(dashboard_settings: SettingsFactory) -> Settings:
    return dashboard_settings(**{"audit.operators": [OPERATOR]})


@on_module_loop
async def server(settings: Settings, start_rowgate: Start) -> RunningServer:
    return await start_rowgate(settings)


async def operator(dashboard: Dashboard) -> None:
    await signed_up(dashboard.api, OPERATOR, org_name="Platform")
    await dashboard.db.execute(
        "UPDATE rowgate.users SET email_verified_at = now() WHERE email = $1", OPERATOR
    )


async def states(dashboard: Dashboard) -> dict[str, str]:
    return {row.kid: row.state for row in await dashboard.server.app[SERVICES].keys.listing()}


async def key_events(dashboard: Dashboard) -> list[tuple[str, str | None, dict[str, object]]]:
    found = await dashboard.db.fetch(
        "SELECT event, user_id::text, details::text FROM rowgate.audit_events "
        "WHERE event LIKE 'key.%' ORDER BY id"
    )
    return [(r["event"], r["user_id"], json.loads(r["details"])) for r in found]


def shown_states(page_rows: list[str]) -> dict[str, str]:
    return {row.split()[0]: row.split()[2] for row in page_rows}


async def test_an_operator_rotates_and_retires_keys(dashboard: Dashboard) -> None:
    await operator(dashboard)
    operator_id = await dashboard.db.fetchval("SELECT id::text FROM rowgate.users WHERE email = $1", OPERATOR)
    [active] = (await states(dashboard)).keys()
    async with visitor(dashboard.url) as browser:
        await browser.sign_in(OPERATOR)
        page = await browser.get("/keys/signing")
        assert page.status == 200, page.words
        assert shown_states(rows(page, "key")) == {active: "active"}
        rotated = await browser.post("/keys/signing/rotate", {"algorithm": "EdDSA"})
        assert rotated.status == 200, rotated.words
        [upcoming] = set(await states(dashboard)) - {active}
        assert shown_states(rows(rotated, "key")) == {upcoming: "next", active: "active"}
        assert f"published next signing key {upcoming} (EdDSA) in the JWKS" in rotated.words
        retired = await browser.post(f"/keys/signing/{upcoming}/retire", {})
        assert retired.status == 200, retired.words
        assert shown_states(rows(retired, "key"))[upcoming] == "retired"
        emergency = await browser.post("/keys/signing/rotate", {"algorithm": "EdDSA", "now": "yes"})
    assert emergency.status == 200
    now = await states(dashboard)
    [signing] = [kid for kid, state in now.items() if state == "active"]
    assert signing not in (active, upcoming)
    assert now[active] == "retired"
    assert shown_states(rows(emergency, "key"))[signing] == "active"
    events = await key_events(dashboard)
    assert [(name, who) for name, who, _ in events] == [
        ("key.published", operator_id),
        ("key.retired", operator_id),
        ("key.retired", operator_id),
        ("key.rotated", operator_id),
    ]
    assert events[0][2]["kid"] == upcoming
    assert events[1][2] == {"kid": upcoming, "algorithm": "EdDSA", "was": "next", "early": True}
    assert events[3][2]["atOnce"] is True


async def test_the_active_key_is_not_retired_and_an_unknown_one_is_not_found(dashboard: Dashboard) -> None:
    await operator(dashboard)
    [active] = (await states(dashboard)).keys()
    async with visitor(dashboard.url) as browser:
        await browser.sign_in(OPERATOR)
        await browser.get("/keys/signing")
        busy = await browser.post(f"/keys/signing/{active}/retire", {})
        assert busy.status == 409
        assert "signs: rotate first" in busy.words
        missing = await browser.post("/keys/signing/no-such-key/retire", {})
        assert missing.status == 404
        odd = await browser.post("/keys/signing/rotate", {"algorithm": "none"})
        assert odd.status == 400
    assert await states(dashboard) == {active: "active"}


async def test_an_organisation_admin_neither_sees_nor_rotates_keys(dashboard: Dashboard) -> None:
    admin = await dashboard.admin()
    before = await states(dashboard)
    async with visitor(dashboard.url) as browser:
        home = await browser.sign_in(admin.email)
        assert "Signing keys" not in home.words
        assert (await browser.get("/keys/signing")).status == 404
        rotated = await browser.post("/keys/signing/rotate", {"algorithm": "EdDSA", "now": "yes"})
        assert rotated.status == 404
        [kid] = before
        assert (await browser.post(f"/keys/signing/{kid}/retire", {})).status == 404
    assert await states(dashboard) == before
    assert await key_events(dashboard) == []


async def test_a_rotation_without_the_form_token_changes_nothing(dashboard: Dashboard) -> None:
    await operator(dashboard)
    before = await states(dashboard)
    async with visitor(dashboard.url) as browser:
        await browser.sign_in(OPERATOR)
        forged = await browser.post("/keys/signing/rotate", {"algorithm": "EdDSA"}, csrf="forged")
        assert forged.status == 403
    assert await states(dashboard) == before
