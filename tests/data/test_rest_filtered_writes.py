"""REST and SQL writes under a policy whose groups have a filter: the values are bound
parameters, which rowgate cannot check itself, so the database checks each new row as it is
written.  A row the filter allows is written; a row it refuses is a 403 and nothing of the
request is written.  An update of a row the caller may not change never reaches the check."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from rowgate.config import Settings
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


async def _own_task(client: Client, title: str, priority: int) -> str:
    status, body = await client.call(
        "POST", "/v1/data/tasks", "user_a", json={"title": title, "priority": priority}
    )
    assert status == 201, body
    return str(body["data"]["id"])


async def _priority(client: Client, task: str) -> int:
    status, body = await client.call("GET", f"/v1/data/tasks/{task}", "admin_a")
    assert status == 200, body
    return int(body["data"]["priority"])


async def test_an_update_the_filter_allows_is_written(filtered: Client) -> None:
    task = await _own_task(filtered, "filtered own", 1)

    status, body = await filtered.call("PATCH", f"/v1/data/tasks/{task}", "user_a", json={"priority": 4})

    assert status == 200, body
    assert body["data"]["priority"] == 4
    assert await _priority(filtered, task) == 4


async def test_an_update_the_filter_refuses_is_403_and_changes_nothing(filtered: Client) -> None:
    task = await _own_task(filtered, "filtered own", 2)

    status, body = await filtered.call(
        "PATCH", f"/v1/data/tasks/{task}", "user_a", json={"priority": 5, "title": "filtered moved"}
    )

    assert status == 403, body
    assert body["code"] == "write_refused"
    assert "updated row" in body["detail"]
    assert await _priority(filtered, task) == 2
    assert await _titles(filtered, "filtered") == ["filtered own"]


async def test_an_update_of_a_row_the_caller_may_not_change_never_reaches_the_filter(
    filtered: Client,
) -> None:
    task = await _own_task(filtered, "filtered theirs", 1)  # user_a's: user_a2 may read, not write

    status, body = await filtered.call("PATCH", f"/v1/data/tasks/{task}", "user_a2", json={"priority": 9})
    assert (status, body["code"]) == (403, "row_not_writable")
    status, body = await filtered.call("PATCH", f"/v1/data/tasks/{task}", "user_b", json={"priority": 9})
    assert (status, body["code"]) == (404, "row_not_found")
    assert await _priority(filtered, task) == 1


async def test_sql_updates_with_parameters_are_checked_on_the_rows_they_change(filtered: Client) -> None:
    task = await _own_task(filtered, "filtered sql", 3)
    sql = "UPDATE tasks SET priority = $1 WHERE title LIKE 'filtered%'"

    status, body = await filtered.call("POST", "/v1/sql", "user_a", json={"sql": sql, "params": [7]})
    assert status == 403, body
    assert await _priority(filtered, task) == 3

    status, body = await filtered.call("POST", "/v1/sql", "user_a", json={"sql": sql, "params": [0]})
    assert (status, body["rowCount"]) == (200, 1)
    assert await _priority(filtered, task) == 0

    # Matching no row the caller may change, any value goes: nothing is written, as natively.
    status, body = await filtered.call(
        "POST", "/v1/sql", "user_a", json={"sql": sql + " AND priority > 100", "params": [9]}
    )
    assert (status, body["rowCount"]) == (200, 0)


@pytest.mark.parametrize(
    "value",
    ["floor(random() * 10)::int", "(SELECT max(priority) FROM tasks)", "length(title)"],
)
async def test_an_update_computing_a_filtered_column_with_a_function_or_subquery_is_refused(
    filtered: Client, value: str
) -> None:
    task = await _own_task(filtered, "filtered computed", 1)
    sql = f"UPDATE tasks SET priority = {value} WHERE id = $1"

    status, body = await filtered.call("POST", "/v1/sql", "user_a", json={"sql": sql, "params": [task]})

    assert (status, body["code"]) == (403, "write_refused"), body
    assert "function calls or subqueries" in body["detail"]
    assert await _priority(filtered, task) == 1
