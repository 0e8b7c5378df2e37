"""REST inserts under a policy whose insert group has a filter: the values are bound parameters,
which rowgate cannot check itself, so the database checks each row as it is inserted.  A row
the filter allows is written; a row it refuses is a 403 and nothing of the request is written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from config import Settings
from tests.data import world
from tests.data.conftest import Client, Start

pytestmark = pytest.mark.integration

#: Members may only create and see tasks of priority below 5 (admins are not filtered).
FILTER = '    filters:\n      user: "priority < 5"\n'


@pytest.fixture
async def filtered(
    tmp_path: Path, data_settings: Callable[..., Settings], start_rowgate: Start, http: aiohttp.ClientSession
) -> Client:
    text = world.POLICIES.read_text()
    anchor = "      hidden: {user: [internal_notes]}\n"
    assert anchor in text
    path = tmp_path / "policies.yaml"
    path.write_text(text.replace(anchor, anchor + FILTER, 1))
    return Client(http, await start_rowgate(data_settings(policies=str(path))))


async def _titles(client: Client, title: str) -> list[str]:
    status, body = await client.call("GET", "/v1/data/tasks", "admin_a", params={"title": f"like.{title}*"})
    assert status == 200, body
    return sorted(row["title"] for row in body["data"])


async def test_a_row_the_insert_filter_allows_is_written(filtered: Client) -> None:
    status, body = await filtered.call(
        "POST", "/v1/data/tasks", "user_a", json={"title": "filtered ok", "priority": 4}
    )

    assert status == 201, body
    assert (body["data"]["priority"], body["data"]["org_id"]) == (4, world.ORG_A)
    assert await _titles(filtered, "filtered") == ["filtered ok"]


async def test_a_row_the_insert_filter_refuses_is_403_and_nothing_is_written(filtered: Client) -> None:
    status, body = await filtered.call(
        "POST", "/v1/data/tasks", "user_a", json={"title": "filtered no", "priority": 7}
    )

    assert status == 403, body
    assert body["code"] == "write_refused"
    assert "insert policy" in body["detail"]
    assert await _titles(filtered, "filtered") == []


async def test_one_refused_row_of_an_array_writes_none_of_them(filtered: Client) -> None:
    rows = [{"title": "filtered 1", "priority": 1}, {"title": "filtered 2", "priority": 9}]

    status, body = await filtered.call("POST", "/v1/data/tasks", "user_a", json=rows)

    assert status == 403, body
    assert await _titles(filtered, "filtered") == []


async def test_the_filter_does_not_bind_admins(filtered: Client) -> None:
    status, body = await filtered.call(
        "POST", "/v1/data/tasks", "admin_a", json={"title": "filtered admin", "priority": 9}
    )

    assert status == 201, body
    assert await _titles(filtered, "filtered") == ["filtered admin"]


async def test_sql_inserts_are_checked_the_same_way_and_show_no_check_rows(filtered: Client) -> None:
    sql = "INSERT INTO tasks (title, priority) VALUES ($1, $2)"

    status, body = await filtered.call(
        "POST", "/v1/sql", "user_a", json={"sql": sql, "params": ["filtered 3", 3]}
    )
    assert status == 200, body
    assert body == {"rows": [], "rowCount": 1, "columns": []}

    status, body = await filtered.call(
        "POST", "/v1/sql", "user_a", json={"sql": sql, "params": ["filtered 8", 8]}
    )
    assert status == 403, body
    assert await _titles(filtered, "filtered") == ["filtered 3"]
