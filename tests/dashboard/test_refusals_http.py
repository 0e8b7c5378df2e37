"""The dashboard's refusals over plain HTTP: who may not sign in, other organisations' ids, forms
without a valid token or from another site, bad bodies, and the dashboard turned off."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import pytest

from rowgate.proxy.appkeys import SERVICES
from tests.conftest import RunningServer, SettingsFactory
from tests.dashboard.conftest import MOUNT, ON_MODULE_LOOP, Dashboard, csrf_of, http_sign_in
from tests.proxy.authkit import PASSWORD, Api, Start
from tests.proxy.mfahttp import signed_up

pytestmark = [pytest.mark.integration, ON_MODULE_LOOP]


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, str, dict[str, str]]:
    async with http.get(url, allow_redirects=False) as response:
        return response.status, await response.text(), dict(response.headers)


async def post(
    http: aiohttp.ClientSession, url: str, data: Any, headers: dict[str, str] | None = None
) -> tuple[int, str, dict[str, str]]:
    async with http.post(url, data=data, headers=headers or {}, allow_redirects=False) as response:
        return response.status, await response.text(), dict(response.headers)


async def signed_in_csrf(http: aiohttp.ClientSession, dashboard: Dashboard, email: str) -> str:
    assert await http_sign_in(http, dashboard.server.url, email) == 200
    _, html, _ = await get(http, dashboard.url + "/members")
    return csrf_of(html)


async def test_a_member_who_is_no_admin_is_refused_and_their_new_session_ended(
    dashboard: Dashboard, browserless: aiohttp.ClientSession
) -> None:
    admin = await dashboard.admin()
    member = await dashboard.member(admin.org_id)
    live = "SELECT count(*) FROM rowgate.sessions WHERE user_id = $1 AND revoked_at IS NULL"
    before = await dashboard.db.fetchval(live, member.user_id)
    assert await http_sign_in(browserless, dashboard.server.url, member.email) == 403
    status, _, _ = await get(browserless, dashboard.url + "/members")
    assert status == 303  # not signed in
    assert await dashboard.db.fetchval(live, member.user_id) == before
    ended = "SELECT count(*) FROM rowgate.audit_events WHERE user_id = $1 AND event = 'signout'"
    assert await dashboard.db.fetchval(ended, member.user_id) == 1


async def test_a_wrong_password_and_an_unknown_address_get_the_same_page(
    dashboard: Dashboard, browserless: aiohttp.ClientSession
) -> None:
    admin = await dashboard.admin()
    answers = []
    for email in (admin.email, "nobody-here@example.com"):
        _, html, _ = await get(browserless, dashboard.url + "/signin")
        form = {"csrf": csrf_of(html), "email": email, "password": "Wrong-Horse-42"}
        status, page, _ = await post(browserless, dashboard.url + "/signin", form)
        answers.append((status, page.replace(email, "EMAIL")))
    assert answers[0] == answers[1]
    assert answers[0][0] == 401
    failed = "SELECT count(*) FROM rowgate.audit_events WHERE event = 'signin.failed'"
    assert await dashboard.db.fetchval(failed) == 2  # recorded as the API records them


async def test_another_organisation_s_ids_are_not_found_and_stay_as_they_were(
    dashboard: Dashboard, browserless: aiohttp.ClientSession
) -> None:
    ours, theirs = await dashboard.admin(), await dashboard.admin(org_name="Other")
    their_member = await dashboard.member(theirs.org_id)
    invitation = await dashboard.db.fetchval(
        "INSERT INTO rowgate.invitations (org_id, email, role, digest, invited_by, expires_at) "
        "VALUES ($1, 'x@example.com', 'member', $2, $3, now() + interval '1 day') RETURNING id::text",
        theirs.org_id,
        uuid.uuid4().bytes * 2,
        theirs.user_id,
    )
    csrf = await signed_in_csrf(browserless, dashboard, ours.email)
    base = dashboard.url
    assert (await get(browserless, f"{base}/members/{their_member.user_id}/sessions"))[0] == 404
    assert (await get(browserless, f"{base}/members/not-a-uuid/sessions"))[0] == 404
    attempts = [
        (f"/members/{their_member.user_id}/role", {"role": "admin"}),
        (f"/members/{their_member.user_id}/remove", {}),
        (f"/members/{their_member.user_id}/sessions/end", {}),
        (f"/invitations/{invitation}/revoke", {}),
        (f"/api-keys/{uuid.uuid4()}/revoke", {}),
        (f"/api-keys/{uuid.uuid4()}/rotate", {"grace": "0"}),
        ("/org", {"org": theirs.org_id}),
    ]
    for path, fields in attempts:
        status, _, headers = await post(browserless, base + path, {"csrf": csrf, **fields})
        assert status == 404, (path, status)
        assert headers["Content-Type"].startswith("text/html")
        assert "Content-Security-Policy" in headers
    role = "SELECT role FROM rowgate.memberships WHERE user_id = $1 AND org_id = $2"
    assert await dashboard.db.fetchval(role, their_member.user_id, theirs.org_id) == "member"
    revoked = "SELECT revoked_at FROM rowgate.invitations WHERE id = $1"
    assert await dashboard.db.fetchval(revoked, invitation) is None


async def test_forms_without_the_token_or_from_another_site_change_nothing(
    dashboard: Dashboard, browserless: aiohttp.ClientSession
) -> None:
    admin = await dashboard.admin()
    member = await dashboard.member(admin.org_id)
    csrf = await signed_in_csrf(browserless, dashboard, admin.email)
    url = f"{dashboard.url}/members/{member.user_id}/role"
    refusals = [
        ({"role": "admin"}, {}),
        ({"role": "admin", "csrf": ""}, {}),
        ({"role": "admin", "csrf": csrf[:-2] + "AA"}, {}),
        ({"role": "admin", "csrf": csrf}, {"Origin": "https://evil.example"}),
        ({"role": "admin", "csrf": csrf}, {"Sec-Fetch-Site": "cross-site"}),
        ({"role": "admin", "csrf": csrf}, {"Origin": "null"}),
    ]
    for form, headers in refusals:
        status, html, _ = await post(browserless, url, form, headers)
        assert status == 403, (form, headers)
        assert "reload the page and try again" in html
    role = "SELECT role FROM rowgate.memberships WHERE user_id = $1 AND org_id = $2"
    assert await dashboard.db.fetchval(role, member.user_id, admin.org_id) == "member"
    # The same form with its token, from the dashboard's own origin, goes through.
    origin = {"Origin": dashboard.server.url, "Sec-Fetch-Site": "same-origin"}
    status, _, _ = await post(browserless, url, {"role": "admin", "csrf": csrf}, origin)
    assert status == 200
    assert await dashboard.db.fetchval(role, member.user_id, admin.org_id) == "admin"


async def test_the_sign_in_form_needs_its_own_token(
    dashboard: Dashboard, http: aiohttp.ClientSession
) -> None:
    admin = await dashboard.admin()
    form = {"email": admin.email, "password": PASSWORD, "csrf": "forged"}
    status, html, _ = await post(http, dashboard.url + "/signin", form)
    assert status == 403
    assert "Set-Cookie" not in html


async def test_oversized_and_malformed_bodies_are_4xx_pages(
    dashboard: Dashboard, browserless: aiohttp.ClientSession
) -> None:
    admin = await dashboard.admin()
    csrf = await signed_in_csrf(browserless, dashboard, admin.email)
    url = dashboard.url + "/invitations"
    status, _, headers = await post(browserless, url, {"csrf": csrf, "email": "a" * 20_000})
    assert status == 413
    assert headers["Content-Type"].startswith("text/html")
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}
    status, _, _ = await post(browserless, url, b"csrf=\xff\xfe&email=x", form_type)
    assert status == 400
    status, _, _ = await post(browserless, url, {"csrf": csrf, "email": "not an address", "role": "member"})
    assert 400 <= status < 500
    status, _, _ = await post(browserless, url, {"csrf": csrf, "email": "a@example.com", "role": "nope"})
    assert status == 422
    status, _, _ = await post(
        browserless, dashboard.url + "/api-keys", {"csrf": csrf, "name": "", "type": "x"}
    )
    assert status == 422
    assert await dashboard.db.fetchval("SELECT count(*) FROM rowgate.invitations") == 0


async def test_after_sign_in_only_a_dashboard_path_is_followed(
    dashboard: Dashboard, browserless: aiohttp.ClientSession
) -> None:
    admin = await dashboard.admin()
    for wanted, where in [
        ("https://evil.example/admin", MOUNT),
        ("//evil.example/admin", MOUNT),
        ("/elsewhere", MOUNT),
        (MOUNT + "/invitations", MOUNT + "/invitations"),
    ]:
        browserless.cookie_jar.clear()
        _, html, _ = await get(browserless, dashboard.url + "/signin")
        form = {"csrf": csrf_of(html), "email": admin.email, "password": PASSWORD, "next": wanted}
        status, _, headers = await post(browserless, dashboard.url + "/signin", form)
        assert status == 303
        assert headers["Location"] == where, wanted


async def test_the_session_cookie_is_http_only_strict_and_kept_to_the_mount(
    dashboard_settings: SettingsFactory, start_rowgate: Start, http: aiohttp.ClientSession
) -> None:
    for public_url, name, secure in [
        (None, "rowgate-dashboard", False),
        ("https://auth.example.com", "__Secure-rowgate-dashboard", True),
    ]:
        overrides = {"server.public_url": public_url} if public_url else {}
        server = await start_rowgate(dashboard_settings(**overrides))
        api = Api(http, server)
        email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
        await signed_up(api, email, org_name="Acme")
        async with http.get(server.url + MOUNT + "/signin") as response:
            html = await response.text()
            nonce = {name: morsel.value for name, morsel in response.cookies.items()}
        form = {"csrf": csrf_of(html), "email": email, "password": PASSWORD}
        url = server.url + MOUNT + "/signin"
        async with http.post(url, data=form, cookies=nonce, allow_redirects=False) as response:
            assert response.status == 303
            cookies = response.headers.getall("Set-Cookie")
        session = next(c for c in cookies if c.startswith(name + "="))
        attributes = {part.strip().split("=")[0].lower(): part for part in session.split(";")[1:]}
        assert "httponly" in attributes
        assert attributes["samesite"].strip() == "SameSite=Strict"
        assert attributes["path"].strip() == "Path=" + MOUNT
        assert ("secure" in attributes) is secure


async def test_operators_sign_in_without_an_organisation_and_admins_choose_theirs(
    dashboard_settings: SettingsFactory, start_rowgate: Start, http: aiohttp.ClientSession
) -> None:
    server = await start_rowgate(dashboard_settings(**{"audit.operators": ["operator@example.com"]}))
    api = Api(http, server)
    await signed_up(api, "operator@example.com")
    db = server.app[SERVICES].db
    await db.execute("DELETE FROM rowgate.memberships")  # administers nothing
    await db.execute("UPDATE rowgate.users SET email_verified_at = now()")  # operators: verified addresses
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
        assert await http_sign_in(client, server.url, "operator@example.com") == 200
        status, html, _ = await get(client, server.url + MOUNT)
        assert status == 200
        assert "platform operator" in html
        status, html, _ = await get(client, server.url + MOUNT + "/members")
        assert status == 404


async def test_an_admin_of_two_organisations_chooses_which_to_open(
    dashboard: Dashboard, browserless: aiohttp.ClientSession
) -> None:
    admin = await dashboard.admin(org_name="Alpha")
    other = await dashboard.admin(org_name="Beta")
    await dashboard.db.execute(
        "INSERT INTO rowgate.memberships (org_id, user_id, role) VALUES ($1, $2, 'admin')",
        other.org_id,
        admin.user_id,
    )
    csrf = await signed_in_csrf(browserless, dashboard, admin.email)
    _, html, _ = await get(browserless, dashboard.url + "/members")
    assert "Members of Alpha" in html
    assert other.email not in html
    status, _, _ = await post(browserless, dashboard.url + "/org", {"csrf": csrf, "org": other.org_id})
    assert status == 303
    _, html, _ = await get(browserless, dashboard.url + "/members")
    assert "Members of Beta" in html
    assert other.email in html


async def test_require_mfa_refuses_an_admin_without_a_second_factor(
    dashboard_settings: SettingsFactory, start_rowgate: Start, http: aiohttp.ClientSession
) -> None:
    server = await start_rowgate(dashboard_settings(**{"dashboard.require_mfa": True}))
    await signed_up(Api(http, server), "solo@example.com", org_name="Acme")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
        assert await http_sign_in(client, server.url, "solo@example.com") == 403


async def test_turned_off_the_mount_is_an_ordinary_upstream_path(
    dashboard_settings: SettingsFactory, start_rowgate: Start, http: aiohttp.ClientSession
) -> None:
    server: RunningServer = await start_rowgate(dashboard_settings(**{"dashboard.enabled": False}))
    for path in (MOUNT, MOUNT + "/signin", MOUNT + "/static/dashboard.css"):
        status, body, headers = await get(http, server.url + path)
        # The route rules decide, as for any upstream path (the bundled default: deny).
        assert status == 403
        assert headers["Content-Type"] == "application/problem+json"
        assert '"code":"route_denied"' in body
    async with http.get(server.url + "/openapi.json") as response:
        paths = (await response.json())["paths"]
    assert not [path for path in paths if path.startswith(MOUNT + "/") or path == MOUNT]


async def test_signed_out_a_page_leads_to_sign_in_and_a_form_changes_nothing(
    dashboard: Dashboard, http: aiohttp.ClientSession
) -> None:
    status, _, headers = await get(http, dashboard.url + "/members?search=x")
    assert status == 303
    assert headers["Location"] == MOUNT + "/signin?next=%2Fadmin%2Fmembers%3Fsearch%3Dx"
    assert "Content-Security-Policy" in headers
    status, html, _ = await post(
        http, dashboard.url + "/invitations", {"csrf": "x", "email": "a@example.com"}
    )
    assert status == 403
    assert "reload the page and try again" in html
    assert (await get(http, dashboard.url + "/members/not-a-uuid/sessions"))[0] == 404
    assert await dashboard.db.fetchval("SELECT count(*) FROM rowgate.invitations") == 0


async def test_a_form_of_an_ended_session_is_refused_with_a_sign_in_link(
    dashboard: Dashboard, browserless: aiohttp.ClientSession
) -> None:
    admin = await dashboard.admin()
    csrf = await signed_in_csrf(browserless, dashboard, admin.email)
    await dashboard.db.execute(
        "UPDATE rowgate.sessions SET revoked_at = now() WHERE user_id = $1", admin.user_id
    )
    status, html, _ = await post(
        browserless, dashboard.url + "/invitations", {"csrf": csrf, "email": "a@b.example"}
    )
    assert status == 401
    assert f'href="{MOUNT}/signin"' in html
    assert await dashboard.db.fetchval("SELECT count(*) FROM rowgate.invitations") == 0
