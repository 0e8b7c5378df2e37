"""Every REST operation for admin, user, self and guest callers in two tenants: exactly the rows and
columns each may see and write, 404 for rows it may not see, 403 with a reason for forbidden writes."""

from __future__ import annotations

import orjson
import pytest

from tests.data import world
from tests.data.conftest import Client

pytestmark = pytest.mark.integration

READERS = ["admin_a", "user_a", "user_a2", "user_b", "admin_b", "guest"]


def by_id(rows: list[dict[str, object]]) -> dict[object, dict[str, object]]:
    return {row["id"]: row for row in rows}


@pytest.mark.parametrize("name", READERS)
async def test_list_shows_exactly_the_rows_and_columns_each_caller_may_see(client: Client, name: str) -> None:
    caller = world.CALLERS[name]
    for table, expected in (
        ("tasks", world.visible_tasks(caller)),
        ("posts", world.visible_posts(caller)),
        ("projects", world.visible_projects(caller)),
    ):
        status, body = await client.call("GET", f"/v1/data/{table}", name, params={"limit": "1000"})
        assert status == 200, body
        assert by_id(body["data"]) == by_id([world.row_json(r) for r in expected]), table


@pytest.mark.parametrize("name", READERS)
async def test_get_one_answers_404_for_rows_of_other_tenants_and_hidden_rows(
    client: Client, name: str
) -> None:
    caller = world.CALLERS[name]
    visible = {row["id"] for row in world.visible_tasks(caller)}
    for row in world.seed_tasks()[:9]:
        status, body = await client.call("GET", f"/v1/data/tasks/{row['id']}", name)
        if row["id"] in visible:
            assert status == 200
            assert body["data"]["id"] == row["id"]
            assert ("internal_notes" in body["data"]) == ("admin" in caller.groups)
        else:
            assert status == 404, body
            assert body["code"] == "row_not_found"
            assert body["detail"] == f"No row of tasks has the id {row['id']!r}."


async def test_guests_see_only_published_posts_of_every_tenant(client: Client) -> None:
    status, body = await client.call("GET", "/v1/data/posts")
    assert status == 200
    assert {r["status"] for r in body["data"]} == {"published"}
    assert len(body["data"]) == 4
    draft = next(r for r in world.seed_posts() if r["status"] == "draft")
    status, body = await client.call("GET", f"/v1/data/posts/{draft['id']}")
    assert status == 404


@pytest.mark.parametrize("name", ["admin_a", "user_a", "user_b"])
async def test_members_insert_tasks_into_their_own_tenant(client: Client, name: str) -> None:
    caller = world.CALLERS[name]
    status, body = await client.call(
        "POST", "/v1/data/tasks", name, json={"title": f"new by {name}", "priority": 3}
    )
    assert status == 201, body
    row = body["data"]
    assert row["org_id"] == caller.org_id
    assert row["created_by"] == caller.user_id  # the column default reads rowgate.user_id
    assert ("internal_notes" in row) == ("admin" in caller.groups)
    status, again = await client.call("GET", f"/v1/data/tasks/{row['id']}", name)
    assert status == 200
    assert again["data"] == row
    other = "user_b" if caller.org_id == world.ORG_A else "user_a"
    status, _ = await client.call("GET", f"/v1/data/tasks/{row['id']}", other)
    assert status == 404


async def test_an_array_inserts_every_row_and_returns_them_in_order(client: Client) -> None:
    rows = [{"title": "one", "priority": 1}, {"title": "two"}, {"title": "three", "done": True}]
    status, body = await client.call("POST", "/v1/data/tasks", "user_a", json=rows)
    assert status == 201, body
    assert [r["title"] for r in body["data"]] == ["one", "two", "three"]
    assert [r["priority"] for r in body["data"]] == [1, 0, 0]
    assert [r["done"] for r in body["data"]] == [False, False, True]


@pytest.mark.parametrize(
    ("name", "payload", "code"),
    [
        ("user_b", {"title": "x", "org_id": world.ORG_A}, "write_refused"),
        ("user_a", {"title": "x", "org_id": world.ORG_B}, "write_refused"),
    ],
)
async def test_inserts_the_policy_forbids_are_403_with_the_reason(
    client: Client, name: str, payload: dict[str, object], code: str
) -> None:
    status, body = await client.call("POST", "/v1/data/tasks", name, json=payload)
    assert status == 403, body
    assert body["code"] == code
    assert body["detail"]
    status, listed = await client.call("GET", "/v1/data/tasks", "admin_a", params={"title": "eq.x"})
    assert listed["data"] == []


async def test_an_insert_naming_the_callers_own_tenant_is_checked_and_written(client: Client) -> None:
    status, body = await client.call(
        "POST", "/v1/data/tasks", "user_a", json={"title": "mine", "org_id": world.ORG_A}
    )
    assert status == 201, body
    assert body["data"]["org_id"] == world.ORG_A


async def test_only_admins_write_projects(client: Client) -> None:
    status, body = await client.call("POST", "/v1/data/projects", "user_a", json={"name": "nope"})
    assert (status, body["code"], body["missing"]) == (403, "permission_denied", ["projects:create"])
    status, body = await client.call("POST", "/v1/data/projects", "admin_a", json={"name": "omega"})
    assert status == 201
    assert body["data"]["org_id"] == world.ORG_A
    assert body["data"]["id"] == 101
    status, body = await client.call("PATCH", "/v1/data/projects/101", "admin_a", json={"archived": True})
    assert (status, body["data"]["archived"]) == (200, True)
    status, body = await client.call("PATCH", "/v1/data/projects/101", "admin_b", json={"archived": False})
    assert status == 404
    status, body = await client.call("DELETE", "/v1/data/projects/101", "user_a")
    assert status == 403
    status, body = await client.call("DELETE", "/v1/data/projects/101", "admin_a")
    assert (status, body["data"]["name"]) == (200, "omega")
    status, body = await client.call("GET", "/v1/data/projects/101", "admin_a")
    assert status == 404


def _task(owner: str | None, org: str = world.ORG_A) -> dict[str, object]:
    return next(r for r in world.seed_tasks() if r["created_by"] == owner and r["org_id"] == org)


@pytest.mark.parametrize(
    ("name", "owner", "org", "expected"),
    [
        ("admin_a", world.USER_A2, world.ORG_A, 200),  # admins change any task of their tenant
        ("user_a", world.USER_A, world.ORG_A, 200),  # self: the caller's own task
        ("user_a", world.USER_A2, world.ORG_A, 403),  # visible, but another member's
        ("user_a", None, world.ORG_A, 403),  # visible, nobody's
        ("user_a", world.USER_B, world.ORG_B, 404),  # another tenant's: does not exist for user_a
        ("admin_b", world.ADMIN_A, world.ORG_A, 404),
        ("guest", world.USER_A, world.ORG_A, 401),  # guests hold no tasks:update: sign in first
    ],
)
@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
async def test_update_and_delete_follow_admin_and_self(
    client: Client, method: str, name: str, owner: str | None, org: str, expected: int
) -> None:
    task = _task(owner, org)
    payload = {"title": f"changed by {name}"} if method == "PATCH" else None
    status, body = await client.call(method, f"/v1/data/tasks/{task['id']}", name, json=payload)
    assert status == expected, body
    status_after, after = await client.call(
        "GET", f"/v1/data/tasks/{task['id']}", "admin_b" if org == world.ORG_B else "admin_a"
    )
    if expected == 200:
        assert body["data"]["id"] == task["id"]
        if method == "PATCH":
            assert body["data"]["title"] == f"changed by {name}"
            assert after["data"]["title"] == f"changed by {name}"
        else:
            assert status_after == 404
    else:
        assert after["data"]["title"] == task["title"]
    if expected == 403:
        assert body["code"] in ("row_not_writable", "permission_denied")
        assert "may not" in body["detail"]


async def test_an_update_cannot_move_a_row_to_another_tenant(client: Client) -> None:
    task = _task(world.ADMIN_A)
    status, body = await client.call(
        "PATCH", f"/v1/data/tasks/{task['id']}", "admin_a", json={"org_id": world.ORG_B}
    )
    assert status == 403, body
    assert body["code"] == "write_refused"
    status, body = await client.call("GET", f"/v1/data/tasks/{task['id']}", "admin_a")
    assert status == 200


async def test_hidden_columns_can_be_neither_read_nor_written_by_members(client: Client) -> None:
    mine = _task(world.USER_A)
    status, body = await client.call(
        "GET", "/v1/data/tasks", "user_a", params={"select": "id,internal_notes"}
    )
    assert (status, body["code"]) == (400, "column_hidden")
    status, body = await client.call(
        "GET", "/v1/data/tasks", "user_a", params={"internal_notes": "eq.secret 1"}
    )
    assert (status, body["code"]) == (400, "column_hidden")
    status, body = await client.call(
        "PATCH", f"/v1/data/tasks/{mine['id']}", "user_a", json={"internal_notes": "x"}
    )
    assert (status, body["code"]) == (400, "column_hidden")
    status, body = await client.call(
        "GET", "/v1/data/tasks", "admin_a", params={"select": "id,internal_notes"}
    )
    assert status == 200
    assert all(set(row) == {"id", "internal_notes"} for row in body["data"])


async def test_posts_are_shared_across_tenants_and_owned_by_their_author(client: Client) -> None:
    post = next(p for p in world.seed_posts() if p["created_by"] == world.USER_B)
    status, body = await client.call(
        "PATCH", f"/v1/data/posts/{post['id']}", "user_b", json={"title": "mine"}
    )
    assert (status, body["data"]["title"]) == (200, "mine")
    status, body = await client.call(
        "PATCH", f"/v1/data/posts/{post['id']}", "user_a", json={"title": "theirs"}
    )
    assert status == 403
    status, body = await client.call("DELETE", f"/v1/data/posts/{post['id']}", "admin_a")
    assert status == 403  # an admin of one tenant has no say over a post of a shared table
    status, body = await client.call("DELETE", f"/v1/data/posts/{post['id']}", "user_b")
    assert status == 200
    status, body = await client.call("POST", "/v1/data/posts", "user_a", json={"title": "hello"})
    assert status == 201
    assert body["data"]["org_id"] is None
    assert body["data"]["created_by"] == world.USER_A


async def test_guest_subjects_with_a_tenant_read_only_what_guests_may(server: object) -> None:
    from rowgate.proxy.appkeys import SERVICES
    from rowgate.proxy.data.access import Access, Caller
    from rowgate.rls.subject import Subject

    api = server.app[SERVICES].data  # type: ignore[attr-defined]
    guest_a = Caller(Subject.guest(world.ORG_A), Access(frozenset({"*:read"})))
    tasks = orjson.loads(await api.read(guest_a, "tasks", [("limit", "1000")]))
    posts = orjson.loads(await api.read(guest_a, "posts", [("limit", "1000")]))
    assert tasks["data"] == []
    assert {p["status"] for p in posts["data"]} == {"published"}
