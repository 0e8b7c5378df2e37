"""The policy playground over HTTP: a statement rewritten as a chosen role of the admin's own
organisation (the tenant predicate bound to that organisation), each table's rules shown,
refusals shown with their code, bad input a 400 page, and nothing of another organisation used."""

from __future__ import annotations

import html
import re

import pytest

from rowgate.config import Settings
from rowgate.proxy.data.demo import create_demo_tables
from tests.conftest import RunningServer, SettingsFactory
from tests.dashboard.conftest import ON_MODULE_LOOP, Admin, Dashboard, on_module_loop
from tests.dashboard.pageskit import Seen, visitor
from tests.proxy.authkit import Start

pytestmark = [pytest.mark.integration, ON_MODULE_LOOP]


@on_module_loop
async def server(
    dashboard_settings: SettingsFactory, start_rowgate: Start, migrated_database: str
) -> RunningServer:
    await create_demo_tables(migrated_database)
    settings: Settings = dashboard_settings()
    return await start_rowgate(settings)


def rewritten(page: Seen) -> str:
    found = re.search(r'<pre class="sql" id="rewritten"><code>(.*?)</code></pre>', page.text, flags=re.S)
    assert found is not None, page.words
    return html.unescape(found.group(1))


async def explain(dashboard: Dashboard, who: Admin, **fields: str) -> Seen:
    async with visitor(dashboard.url) as browser:
        await browser.sign_in(who.email)
        form = await browser.get("/playground")
        assert form.status == 200, form.words
        return await browser.post("/playground", {"user": "", **fields})


async def test_a_member_s_select_gets_the_tenant_predicate_and_hidden_columns(dashboard: Dashboard) -> None:
    admin = await dashboard.admin()
    page = await explain(dashboard, admin, sql="SELECT id, title FROM tasks WHERE done", role="member")
    assert page.status == 200, page.words
    sql = rewritten(page)
    assert '"org_id" = $1' in sql
    assert f"$1 = {admin.org_id}" in page.words
    assert "As member (groups: user)" in page.words
    assert "public.tasks as tasks : select by [user]: org_id = <tenant> ; hidden columns: internal_notes" in (
        page.words
    )
    assert "The role holds all of them." in page.words
    assert "public.tasks : tenant column org_id; owner column created_by" in page.words
    assert "update tasks:update held self org_id = <tenant> AND (created_by = <user>)" in page.words


async def test_acting_as_a_member_binds_their_id_and_a_missing_permission_is_named(
    dashboard: Dashboard,
) -> None:
    admin = await dashboard.admin()
    viewer = await dashboard.member(admin.org_id, role="viewer")
    page = await explain(
        dashboard, admin, sql="DELETE FROM tasks WHERE done", role="viewer", user=viewer.email
    )
    assert page.status == 200, page.words
    assert viewer.user_id in page.words
    assert "The role lacks tasks:delete" in page.words


async def test_a_refused_statement_shows_its_code_and_message(dashboard: Dashboard) -> None:
    admin = await dashboard.admin()
    page = await explain(dashboard, admin, sql="DROP TABLE tasks", role="admin")
    assert page.status == 200
    assert "Refused statement_not_allowed statement type DROP is not allowed" in page.words
    assert 'id="rewritten"' not in page.text


async def test_a_guest_reads_published_posts_only(dashboard: Dashboard) -> None:
    admin = await dashboard.admin()
    page = await explain(dashboard, admin, sql="SELECT title FROM posts", role="guest")
    assert page.status == 200, page.words
    assert '"posts"."status" = \'published\'' in rewritten(page)
    assert "As guest (groups: guest)" in page.words


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"sql": "   ", "role": "member"}, "sql: type a statement"),
        ({"sql": "SELECT 1 " + "x" * 4_000, "role": "member"}, "sql: at most 4000 characters"),
        ({"sql": "SELECT 1", "role": "owner"}, "role: expected one of admin, member, viewer"),
        ({"sql": "SELECT 1", "role": "member", "user": "nobody@example.com"}, "user: not a member"),
    ],
)
async def test_bad_input_is_a_400_page(dashboard: Dashboard, fields: dict[str, str], says: str) -> None:
    admin = await dashboard.admin()
    page = await explain(dashboard, admin, **fields)
    assert page.status == 400, page.words
    assert says in page.words


async def test_another_organisation_s_members_and_roles_are_not_used(dashboard: Dashboard) -> None:
    admin = await dashboard.admin()
    stranger = await dashboard.admin(org_name="Other")
    await dashboard.db.execute(
        "INSERT INTO rowgate.custom_roles (org_id, name, permissions) VALUES ($1, 'auditor', '{*:read}')",
        stranger.org_id,
    )
    as_stranger = await explain(dashboard, admin, sql="SELECT 1", role="member", user=stranger.email)
    assert as_stranger.status == 400
    by_id = await explain(dashboard, admin, sql="SELECT 1", role="member", user=stranger.user_id)
    assert by_id.status == 400
    their_role = await explain(dashboard, admin, sql="SELECT 1", role="auditor")
    assert their_role.status == 400
    assert stranger.org_id not in their_role.text
