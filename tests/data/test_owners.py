"""Owners cannot be forged, through REST or SQL: a member who names another owner (the admin, a
colleague, NULL) in a row it inserts or updates gets a 403 and nothing is written; leaving the
owner out, or writing DEFAULT or its own id, makes the caller the owner.  The tenant's admin may
assign rows of a tenant table to anyone; on a table shared by every tenant nobody may.  A table
whose policy says ``owner_writable: true`` takes any owner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from rowgate.config import Settings
from tests.data import world
from tests.data.conftest import Client, Start

pytestmark = pytest.mark.integration


async def _owners(client: Client, title: str) -> list[Any]:
    """The owners of tenant A's tasks whose title starts with ``title`` (titles are unique per
    tenant), in title order."""
    status, body = await client.call(
        "GET", "/v1/data/tasks", "admin_a", params={"title": f"like.{title}*", "order": "title"}
    )
    assert status == 200, body
    return [row["created_by"] for row in body["data"]]


async def _sql(client: Client, caller: str, statement: str, *params: object) -> tuple[int, Any]:
    return await client.call("POST", "/v1/sql", caller, json={"sql": statement, "params": list(params)})


@pytest.mark.parametrize("owner", [world.ADMIN_A, world.USER_A2, world.USER_B, None])
async def test_a_member_cannot_insert_a_row_owned_by_someone_else(client: Client, owner: str | None) -> None:
    status, body = await client.call(
        "POST", "/v1/data/tasks", "user_a", json={"title": "forged", "created_by": owner}
    )

    assert (status, body["code"]) == (403, "write_refused"), body
    assert "another owner" in body["detail"]
    assert await _owners(client, "forged") == []


async def test_one_forged_row_of_many_refuses_the_whole_request(client: Client) -> None:
    rows = [{"title": "batch 1"}, {"title": "batch 2", "created_by": world.ADMIN_A}]

    status, body = await client.call("POST", "/v1/data/tasks", "user_a", json=rows)

    assert (status, body["code"]) == (403, "write_refused")
    assert await _owners(client, "batch") == []


async def test_a_member_who_leaves_the_owner_out_or_names_itself_owns_the_row(client: Client) -> None:
    for row in ({"title": "own 1"}, {"title": "own 2", "created_by": world.USER_A}):
        status, body = await client.call("POST", "/v1/data/tasks", "user_a", json=row)
        assert status == 201, body
    status, body = await _sql(
        client, "user_a", "INSERT INTO tasks (title, created_by) VALUES ('own 3', DEFAULT)"
    )
    assert status == 200, body

    assert await _owners(client, "own") == [world.USER_A] * 3


async def test_a_member_cannot_hand_its_row_to_someone_else(client: Client) -> None:
    status, body = await client.call("POST", "/v1/data/tasks", "user_a", json={"title": "mine"})
    assert status == 201, body
    key = body["data"]["id"]

    status, body = await client.call(
        "PATCH", f"/v1/data/tasks/{key}", "user_a", json={"created_by": world.ADMIN_A}
    )

    assert (status, body["code"]) == (403, "write_refused"), body
    assert await _owners(client, "mine") == [world.USER_A]


@pytest.mark.parametrize(
    "statement",
    [
        # the report, word for word
        f"INSERT INTO tasks (title, created_by) VALUES ('forged', '{world.ADMIN_A}')",
        "INSERT INTO tasks (title, created_by) VALUES "
        f"('forged 1', DEFAULT), ('forged 2', '{world.ADMIN_A}')",
        "INSERT INTO tasks (title, created_by) SELECT 'forged ' || id, created_by FROM tasks "
        f"WHERE created_by <> '{world.USER_A}'",
        f"INSERT INTO tasks (title, created_by) VALUES ('forged', lower('{world.ADMIN_A.upper()}')::uuid)",
        f"UPDATE tasks SET created_by = '{world.ADMIN_A}' WHERE created_by = '{world.USER_A}'",
        "UPDATE tasks SET created_by = NULL",
        "UPDATE tasks t SET created_by = p.created_by FROM projects p WHERE p.created_by <> t.created_by",
    ],
)
async def test_sql_that_names_another_owner_is_refused(client: Client, statement: str) -> None:
    await client.call("POST", "/v1/data/tasks", "user_a", json={"title": "mine"})
    before = await _owners(client, "mine") + await _owners(client, "forged")

    status, body = await _sql(client, "user_a", statement)

    assert (status, body["code"]) == (403, "write_refused"), body
    assert await _owners(client, "mine") + await _owners(client, "forged") == before


async def test_an_upsert_cannot_take_another_owner(client: Client) -> None:
    status, body = await client.call("POST", "/v1/data/tasks", "user_a", json={"title": "mine"})
    key = body["data"]["id"]

    status, body = await _sql(
        client,
        "user_a",
        "INSERT INTO tasks (id, title) VALUES ($1, 'mine') ON CONFLICT (id) DO UPDATE SET created_by = $2",
        key,
        world.ADMIN_A,
    )

    assert (status, body["code"]) == (403, "write_refused"), body
    assert await _owners(client, "mine") == [world.USER_A]


async def test_an_admin_assigns_rows_of_its_tenant_but_not_of_a_shared_table(client: Client) -> None:
    status, body = await client.call(
        "POST", "/v1/data/tasks", "admin_a", json={"title": "assigned", "created_by": world.USER_A}
    )
    assert status == 201, body
    assert await _owners(client, "assigned") == [world.USER_A]

    status, body = await client.call(
        "POST", "/v1/data/posts", "admin_a", json={"title": "ghost", "created_by": world.USER_B}
    )
    assert (status, body["code"]) == (403, "write_refused"), body


@pytest.fixture
async def writable(
    tmp_path: Path, data_settings: Callable[..., Settings], start_rowgate: Start, http: aiohttp.ClientSession
) -> Client:
    text = world.POLICIES.read_text()
    anchor = "  tasks:\n"
    assert anchor in text
    path = tmp_path / "policies.yaml"
    path.write_text(text.replace(anchor, anchor + "    owner_writable: true\n", 1))
    return Client(http, await start_rowgate(data_settings(policies=str(path))))


async def test_owner_writable_lets_members_name_any_owner(writable: Client) -> None:
    status, body = await writable.call(
        "POST", "/v1/data/tasks", "user_a", json={"title": "delegated", "created_by": world.USER_A2}
    )

    assert status == 201, body
    assert await _owners(writable, "delegated") == [world.USER_A2]
