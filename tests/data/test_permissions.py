"""Table permissions on the data API: every REST and SQL operation on a table needs the caller's
``<table>:<action>``, from its role (built-in or custom) narrowed by an API key's scopes, checked
before anything runs; the row policy still confines what gets through."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import RunningServer
from tests.data import world
from tests.data.conftest import Client, Start
from tests.tenancykit import hear, heard

pytestmark = pytest.mark.integration

VIEWER = world.Caller("viewer_a", world.USER_A2, world.ORG_A, "viewer")
EDITOR = world.Caller("editor_a", world.USER_A2, world.ORG_A, "editor")
OWNER = world.Caller("owner_a", str(uuid.UUID(int=0xA0 << 120 | 0xF)), world.ORG_A, "admin")


def task_of(owner: str | None) -> dict[str, Any]:
    """A seeded task of organisation A owned by ``owner``."""
    return next(t for t in world.seed_tasks() if t["org_id"] == world.ORG_A and t["created_by"] == owner)


async def sql(client: Client, caller: Any, statement: str, *params: Any, **headers: str) -> tuple[int, Any]:
    return await client.call(
        "POST", "/v1/sql", caller, json={"sql": statement, "params": list(params)}, headers=headers
    )


def denied(answer: tuple[int, Any], *missing: str) -> bool:
    status, body = answer
    return (status, body["code"], body["missing"]) == (403, "permission_denied", list(missing))


def sign_in_first(answer: tuple[int, Any], *missing: str) -> bool:
    """A caller without credentials is told to sign in (401), with what it lacked as a guest."""
    status, body = answer
    return (status, body["code"], body["missing"]) == (401, "unauthorized", list(missing))


async def snapshot(client: Client) -> list[Any]:
    status, body = await client.call(
        "GET", "/v1/data/tasks", "admin_a", params={"limit": "1000", "order": "id"}
    )
    assert status == 200
    return list(body["data"])


async def test_a_viewer_reads_but_creates_updates_and_deletes_nothing(client: Client) -> None:
    before = await snapshot(client)
    own = task_of(world.USER_A2)["id"]
    status, body = await client.call("GET", "/v1/data/tasks", VIEWER, params={"limit": "1000"})
    assert (status, len(body["data"])) == (200, len(world.visible_tasks(world.CALLERS["user_a2"])))
    status, body = await sql(
        client, VIEWER, "SELECT count(*) AS n FROM tasks t JOIN projects p ON p.id = t.project_id"
    )
    assert status == 200, body

    assert denied(await client.call("POST", "/v1/data/tasks", VIEWER, json={"title": "x"}), "tasks:create")
    assert denied(
        await client.call("PATCH", f"/v1/data/tasks/{own}", VIEWER, json={"title": "x"}), "tasks:update"
    )
    assert denied(await client.call("DELETE", f"/v1/data/tasks/{own}", VIEWER), "tasks:delete")
    # The permission is checked before the body is read: not even a malformed body gets further.
    assert denied(await client.call("POST", "/v1/data/tasks", VIEWER, data=b"{not json"), "tasks:create")
    assert denied(await sql(client, VIEWER, "INSERT INTO tasks (title) VALUES ('x')"), "tasks:create")
    assert denied(
        await sql(client, VIEWER, "UPDATE tasks SET title = 'x' WHERE id = $1", own), "tasks:update"
    )
    assert denied(await sql(client, VIEWER, "DELETE FROM tasks"), "tasks:delete")
    upsert = "INSERT INTO tasks (id, title) VALUES ($1, 'x') ON CONFLICT (id) DO UPDATE SET title = 'x'"
    assert denied(await sql(client, VIEWER, upsert, own), "tasks:create", "tasks:update")
    assert denied(
        await sql(client, VIEWER, "INSERT INTO tasks (title) SELECT name FROM projects"), "tasks:create"
    )
    # Data-modifying CTEs are refused for everyone, viewer or not.
    for caller in (VIEWER, "admin_a"):
        status, body = await sql(
            client, caller, "WITH d AS (DELETE FROM tasks RETURNING id) SELECT id FROM d"
        )
        assert (status, body["code"]) == (400, "statement_not_allowed")
    assert await snapshot(client) == before


async def test_members_do_what_the_shipped_roles_allow(client: Client) -> None:
    status, created = await client.call("POST", "/v1/data/tasks", "user_a", json={"title": "mine"})
    assert status == 201, created
    task = created["data"]["id"]
    status, _ = await client.call("PATCH", f"/v1/data/tasks/{task}", "user_a", json={"done": True})
    assert status == 200
    moved = "UPDATE tasks SET project_id = p.id FROM projects p WHERE p.name = 'alpha' AND tasks.id = $1"
    status, body = await sql(client, "user_a", moved, task)
    assert (status, body["rowCount"]) == (200, 1)  # tasks:update, and projects:read for the FROM
    upsert = (
        "INSERT INTO tasks (id, title) VALUES ($1, 'again') ON CONFLICT (id) DO UPDATE SET title = 'again'"
    )
    status, body = await sql(client, "user_a", upsert, task)
    assert (status, body["rowCount"]) == (200, 1)
    status, _ = await client.call("DELETE", f"/v1/data/tasks/{task}", "user_a")
    assert status == 200
    # The policy still decides the rows: another member's task stays theirs.
    other = task_of(world.USER_A2)["id"]
    status, body = await client.call("DELETE", f"/v1/data/tasks/{other}", "user_a")
    assert (status, body["code"]) == (403, "row_not_writable")

    status, _ = await client.call("GET", "/v1/data/projects", "user_a")
    assert status == 200
    assert denied(
        await client.call("POST", "/v1/data/projects", "user_a", json={"name": "x"}), "projects:create"
    )
    assert denied(await sql(client, "user_a", "DELETE FROM projects"), "projects:delete")
    status, _ = await client.call("POST", "/v1/data/posts", "user_a", json={"title": "hello"})
    assert status == 201


async def test_the_row_policy_still_stands_behind_a_permission(
    client: Client, data_settings: Any, start_rowgate: Start
) -> None:
    roles = {"admin": ["*"], "member": ["tasks:*", "projects:*"], "viewer": ["*:read"]}
    generous = Client(client.http, await start_rowgate(data_settings(**{"rbac.roles": roles})))
    status, body = await sql(generous, "user_a", "DELETE FROM projects")
    assert (status, body["code"]) == (403, "operation_not_allowed")  # delete: [admin]
    status, body = await generous.call("POST", "/v1/data/projects", "user_a", json={"name": "x"})
    assert (status, body["code"]) == (403, "operation_not_allowed")
    status, body = await sql(
        generous, "user_a", "UPDATE tasks SET done = true WHERE created_by <> $1", world.USER_A
    )
    assert (status, body["rowCount"]) == (200, 0)  # update: [admin, self]: only the caller's own rows


async def create_editor_role(client: Client, permissions: list[str]) -> None:
    await client.enrol("admin_a")
    status, body = await client.call(
        "POST", "/v1/rbac/roles", "admin_a", json={"name": "editor", "permissions": permissions}
    )
    assert status == 201, body


async def test_a_custom_role_with_update_only_updates_but_neither_inserts_nor_reads(client: Client) -> None:
    await create_editor_role(client, ["tasks:update"])
    others = task_of(world.USER_A)["id"]  # update: [admin, self, role:editor]
    status, body = await client.call("PATCH", f"/v1/data/tasks/{others}", EDITOR, json={"title": "edited"})
    assert (status, body["data"]["title"]) == (200, "edited")
    status, body = await sql(client, EDITOR, "UPDATE tasks SET done = true WHERE id = $1", others)
    assert (status, body["rowCount"]) == (200, 1)

    assert denied(await client.call("POST", "/v1/data/tasks", EDITOR, json={"title": "x"}), "tasks:create")
    assert denied(await client.call("GET", "/v1/data/tasks", EDITOR), "tasks:read")
    assert denied(await client.call("GET", f"/v1/data/tasks/{others}", EDITOR), "tasks:read")
    subquery = "UPDATE tasks SET done = true WHERE id IN (SELECT id FROM tasks WHERE priority > 2)"
    assert denied(await sql(client, EDITOR, subquery), "tasks:read")
    upsert = "INSERT INTO tasks (id, title) VALUES ($1, 'x') ON CONFLICT (id) DO UPDATE SET title = 'x'"
    assert denied(await sql(client, EDITOR, upsert, others), "tasks:create")


async def test_a_key_acts_with_its_scopes_only(client: Client) -> None:
    await client.enrol("admin_a")
    status, created = await client.call(
        "POST", "/v1/auth/api-keys", "admin_a", json={"name": "r", "type": "secret", "scopes": ["tasks:read"]}
    )
    assert status == 201, created
    key = {"X-API-Key": created["key"]}
    status, body = await client.call("GET", "/v1/data/tasks", headers=key)
    assert status == 200, body
    assert denied(await client.call("GET", "/v1/data/projects", headers=key), "projects:read")
    assert denied(
        await client.call("POST", "/v1/data/tasks", json={"title": "x"}, headers=key), "tasks:create"
    )
    join = "SELECT t.title FROM tasks t JOIN projects p ON p.id = t.project_id"
    assert denied(await sql(client, None, join, **key), "projects:read")
    assert denied(await sql(client, None, "UPDATE tasks SET done = true", **key), "tasks:update")

    status, created = await client.call(
        "POST", "/v1/auth/api-keys", "admin_a", json={"name": "none", "type": "secret", "scopes": []}
    )
    assert denied(
        await client.call("GET", "/v1/data/tasks", headers={"X-API-Key": created["key"]}), "tasks:read"
    )


async def test_demoting_a_keys_creator_narrows_the_key_at_once_on_a_second_instance(
    client: Client, server: RunningServer, data_settings: Any, start_rowgate: Start
) -> None:
    second = Client(client.http, await start_rowgate(data_settings()))
    await client.enrol("admin_a")
    await client.enrol(OWNER)
    status, created = await client.call(
        "POST", "/v1/auth/api-keys", "admin_a", json={"name": "w", "type": "secret", "scopes": ["tasks:*"]}
    )
    assert status == 201, created
    key = {"X-API-Key": created["key"]}
    status, _ = await second.call("POST", "/v1/data/tasks", json={"title": "by key"}, headers=key)
    assert status == 201

    before = heard(second.server)
    demoted = await client.call("PATCH", f"/v1/auth/members/{world.ADMIN_A}", OWNER, json={"role": "viewer"})
    assert demoted[0] == 200, demoted
    await hear(second.server, before, keys=1)
    for instance in (second, client):
        assert denied(
            await instance.call("POST", "/v1/data/tasks", json={"title": "x"}, headers=key), "tasks:create"
        )
        assert denied(await sql(instance, None, "DELETE FROM tasks", **key), "tasks:delete")
        status, _ = await instance.call("GET", "/v1/data/tasks", headers=key)
        assert status == 200  # tasks:* ∩ *:read


async def test_a_role_removed_from_the_configuration_grants_nothing(
    client: Client, data_settings: Any, start_rowgate: Start
) -> None:
    roles = {"admin": ["*"], "member": ["tasks:*"], "viewer": ["*:read"]}
    auditor = world.Caller("auditor_a", world.USER_A2, world.ORG_A, "auditor")
    before = Client(
        client.http,
        await start_rowgate(data_settings(**{"rbac.roles": {**roles, "auditor": ["tasks:read"]}})),
    )
    status, _ = await before.call("GET", "/v1/data/tasks", auditor)
    assert status == 200
    after = Client(client.http, await start_rowgate(data_settings(**{"rbac.roles": roles})))
    assert denied(await after.call("GET", "/v1/data/tasks", auditor), "tasks:read")


async def test_a_deleted_custom_role_grants_nothing_neither_permissions_nor_rows(
    client: Client, data_settings: Any, start_rowgate: Start
) -> None:
    rows_only = Client(client.http, await start_rowgate(data_settings(**{"data.permissions": "off"})))
    await create_editor_role(client, ["tasks:read", "tasks:update"])
    others = task_of(world.USER_A)["id"]
    for instance in (client, rows_only):  # role:editor lets the editor change another's task
        status, _ = await instance.call("PATCH", f"/v1/data/tasks/{others}", EDITOR, json={"done": True})
        assert status == 200

    before = heard(rows_only.server)
    status, _ = await client.call("DELETE", "/v1/rbac/roles/editor", "admin_a")
    assert status == 204
    await hear(rows_only.server, before, roles=1)
    # A token still naming the role (an external issuer's, or one minted before) gets nothing:
    assert denied(
        await client.call("PATCH", f"/v1/data/tasks/{others}", EDITOR, json={"done": False}), "tasks:update"
    )
    # and without permission checks, role:editor no longer matches: the caller is a plain member.
    status, body = await rows_only.call("PATCH", f"/v1/data/tasks/{others}", EDITOR, json={"done": False})
    assert (status, body["code"]) == (403, "row_not_writable")
    status, _ = await rows_only.call(
        "PATCH", f"/v1/data/tasks/{task_of(world.USER_A2)['id']}", EDITOR, json={"done": True}
    )
    assert status == 200  # self still holds


async def test_guests_hold_the_configured_guest_permissions(
    client: Client, data_settings: Any, start_rowgate: Start
) -> None:
    status, body = await client.call("GET", "/v1/data/posts")
    assert (status, len(body["data"])) == (200, len(world.visible_posts(world.CALLERS["guest"])))
    assert sign_in_first(await client.call("POST", "/v1/data/posts", json={"title": "spam"}), "posts:create")
    closed = Client(client.http, await start_rowgate(data_settings(**{"rbac.guest_permissions": []})))
    assert sign_in_first(await closed.call("GET", "/v1/data/posts"), "posts:read")
    status, _ = await closed.call("GET", "/v1/data/posts", "user_a")
    assert status == 200


async def test_explain_lists_the_permissions_a_statement_needs(client: Client) -> None:
    statement = "INSERT INTO tasks (title) SELECT name FROM projects ON CONFLICT DO NOTHING"
    status, body = await client.call("POST", "/v1/sql", "admin_a", json={"sql": statement, "explain": True})
    assert (status, body["permissions"]) == (200, ["projects:read", "tasks:create"])


async def test_the_worked_example_of_the_readme(
    client: Client, data_settings: Any, start_rowgate: Start
) -> None:
    await create_editor_role(client, ["tasks:read", "tasks:update"])
    others = task_of(world.USER_A)["id"]
    status, _ = await client.call("PATCH", f"/v1/data/tasks/{others}", EDITOR, json={"done": True})
    assert status == 200  # tasks:update, and role:editor lets the row through
    status, _ = await client.call("GET", "/v1/data/tasks", EDITOR)
    assert status == 200
    assert denied(await client.call("POST", "/v1/data/tasks", EDITOR, json={"title": "x"}), "tasks:create")
    assert denied(await client.call("GET", "/v1/data/projects", EDITOR), "projects:read")

    second = Client(client.http, await start_rowgate(data_settings()))
    await client.enrol(OWNER)
    status, created = await client.call(
        "POST", "/v1/auth/api-keys", "admin_a", json={"name": "sync", "type": "secret", "scopes": ["tasks:*"]}
    )
    key = {"X-API-Key": created["key"]}
    status, body = await client.call("POST", "/v1/data/tasks", json={"title": "synced"}, headers=key)
    assert status == 201
    status, body = await client.call("GET", "/v1/data/tasks", headers=key, params={"limit": "1000"})
    assert status == 200
    assert not any("internal_notes" in row for row in body["data"])  # the user group, not admin
    status, body = await client.call("PATCH", f"/v1/data/tasks/{others}", json={"done": False}, headers=key)
    assert (status, body["code"]) == (403, "operation_not_allowed")  # held, but no group of the policy

    before = heard(second.server)
    await client.call("PATCH", f"/v1/auth/members/{world.ADMIN_A}", OWNER, json={"role": "viewer"})
    await hear(second.server, before, keys=1)
    status, _ = await second.call("GET", "/v1/data/tasks", headers=key)
    assert status == 200
    assert denied(
        await second.call("POST", "/v1/data/tasks", json={"title": "x"}, headers=key), "tasks:create"
    )
