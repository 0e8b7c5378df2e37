"""Every kind of bad input to the data API is a 4xx problem+json with a stable code, never a 500."""

from __future__ import annotations

import io

import pytest

from tests.data import world
from tests.data.conftest import Client

pytestmark = pytest.mark.integration

TASK = world.task_id(1)
DEEP = "(" + "or(" * 12 + "priority.eq.1" + ")" * 13

CASES = [
    # (method, path, params, body, status, code)
    ("GET", "/v1/data/nope", None, None, 404, "unknown_table"),
    ("GET", "/v1/data/unlisted", None, None, 404, "unknown_table"),  # exists, but has no policy
    ("GET", "/v1/data/rowgate.users", None, None, 404, "unknown_table"),
    ("GET", "/v1/data/pg_catalog.pg_authid", None, None, 404, "unknown_table"),
    ("GET", "/v1/data/tasks", {"nope": "eq.1"}, None, 400, "unknown_column"),
    ("GET", "/v1/data/tasks", {"select": "id,nope"}, None, 400, "unknown_column"),
    ("GET", "/v1/data/tasks", {"order": "nope.desc"}, None, 400, "unknown_column"),
    ("GET", "/v1/data/tasks", {"priority": "between.1"}, None, 400, "unknown_operator"),
    ("GET", "/v1/data/tasks", {"priority": "2"}, None, 400, "invalid_filter"),
    ("GET", "/v1/data/tasks", {"priority": "eq.two"}, None, 400, "invalid_value"),
    ("GET", "/v1/data/tasks", {"priority": "eq.99999999999"}, None, 400, "invalid_value"),
    ("GET", "/v1/data/tasks", {"id": "eq.not-a-uuid"}, None, 400, "invalid_value"),
    ("GET", "/v1/data/tasks", {"due": "gt.yesterday"}, None, 400, "invalid_value"),
    ("GET", "/v1/data/tasks", {"done": "eq.maybe"}, None, 400, "invalid_value"),
    ("GET", "/v1/data/tasks", {"priority": "like.*1*"}, None, 400, "invalid_filter"),
    ("GET", "/v1/data/tasks", {"title": "is.true"}, None, 400, "invalid_filter"),
    ("GET", "/v1/data/tasks", {"title": "is.maybe"}, None, 400, "invalid_filter"),
    ("GET", "/v1/data/tasks", {"priority": "in.1,2"}, None, 400, "invalid_filter"),
    ("GET", "/v1/data/tasks", {"or": "(priority.eq.1"}, None, 400, "invalid_filter"),
    ("GET", "/v1/data/tasks", {"or": '(priority.eq.1,title.eq."open)'}, None, 400, "invalid_filter"),
    ("GET", "/v1/data/tasks", {"or": "priority.eq.1"}, None, 400, "invalid_filter"),
    ("GET", "/v1/data/tasks", {"or": "(priority)"}, None, 400, "invalid_filter"),
    (
        "GET",
        "/v1/data/tasks",
        {"or": "(" + "or(" * 12 + "priority.eq.1" + ")" * 13},
        None,
        400,
        "invalid_filter",
    ),
    ("GET", "/v1/data/tasks", {"limit": "100000"}, None, 400, "limit_too_large"),
    ("GET", "/v1/data/tasks", {"limit": "-1"}, None, 400, "invalid_limit"),
    ("GET", "/v1/data/tasks", {"limit": "ten"}, None, 400, "invalid_limit"),
    ("GET", "/v1/data/tasks", {"offset": "-5"}, None, 400, "invalid_offset"),
    ("GET", "/v1/data/tasks", [("limit", "1"), ("limit", "2")], None, 400, "duplicate_parameter"),
    ("GET", "/v1/data/tasks", {"count": "planned"}, None, 400, "invalid_count"),
    ("GET", "/v1/data/tasks", {"order": "priority.sideways"}, None, 400, "invalid_order"),
    ("GET", "/v1/data/tasks", {"select": ""}, None, 400, "invalid_select"),
    ("GET", "/v1/data/tasks", {"select": "id,,title"}, None, 400, "invalid_select"),
    ("GET", "/v1/data/tasks/not-a-uuid", None, None, 400, "invalid_value"),
    ("GET", "/v1/data/tasks/" + TASK, {"select": "nope"}, None, 400, "unknown_column"),
    ("POST", "/v1/data/tasks", None, b"{not json", 400, "malformed_body"),
    ("POST", "/v1/data/tasks", None, b"", 400, "malformed_body"),
    ("POST", "/v1/data/tasks", None, b"\xff\xfe", 400, "malformed_body"),
    ("POST", "/v1/data/tasks", None, b"NaN", 400, "malformed_body"),
    ("POST", "/v1/data/tasks", None, b"42", 422, "validation_failed"),
    ("POST", "/v1/data/tasks", None, b"[1, 2]", 422, "validation_failed"),
    ("POST", "/v1/data/tasks", None, b"[]", 422, "empty_body"),
    ("POST", "/v1/data/tasks", None, b'{"nope": 1}', 400, "unknown_column"),
    ("POST", "/v1/data/tasks", None, b'{"title": 5}', 422, "invalid_value"),
    ("POST", "/v1/data/tasks", None, b'{"title": "x", "priority": "high"}', 422, "invalid_value"),
    ("POST", "/v1/data/tasks", None, b'{"title": "x", "priority": true}', 422, "invalid_value"),
    ("POST", "/v1/data/tasks", None, b'{"title": "x", "tags": "a"}', 422, "invalid_value"),
    ("POST", "/v1/data/tasks", None, b'{"title": "x", "estimate": "lots"}', 422, "invalid_value"),
    ("POST", "/v1/data/tasks", None, b'{"title": "x", "estimate": 123456789}', 422, "invalid_value"),
    ("POST", "/v1/data/tasks", None, b'{"title": "nul\\u0000"}', 422, "invalid_value"),
    ("POST", "/v1/data/tasks", None, b'{"priority": 1}', 422, "not_null_violation"),
    ("POST", "/v1/data/tasks", None, b'{"title": "billing 1"}', 409, "unique_violation"),
    ("POST", "/v1/data/tasks", None, b'{"title": "x", "project_id": 999}', 409, "foreign_key_violation"),
    ("POST", "/v1/data/projects", None, b'{"name": ""}', 422, "check_violation"),
    ("PATCH", "/v1/data/tasks/" + TASK, None, b"{}", 422, "empty_body"),
    ("PATCH", "/v1/data/tasks/" + TASK, None, b"[]", 422, "validation_failed"),
    ("PATCH", "/v1/data/tasks/" + TASK, None, b'{"nope": 1}', 400, "unknown_column"),
    ("POST", "/v1/data/tasks", None, b'{"title": "x", "org_name": "y"}', 400, "unknown_column"),
    ("PATCH", "/v1/data/tasks/" + TASK, None, b'{"title": null}', 422, "not_null_violation"),
    ("PATCH", "/v1/data/tasks/" + TASK, None, b'{"priority": 1.5}', 422, "invalid_value"),
    ("PUT", "/v1/data/tasks/" + TASK, None, b"{}", 405, "method_not_allowed"),
    ("DELETE", "/v1/data/tasks", None, None, 405, "method_not_allowed"),
    ("GET", "/v1/data/tasks/" + TASK + "/more", None, None, 404, "not_found"),
]


@pytest.mark.parametrize(
    ("method", "path", "params", "body", "status", "code"),
    CASES,
    ids=[f"{c[0]} {c[1].rsplit('/', 1)[-1][:12]} {c[2] or ''} {(c[3] or b'')[:24]!r}" for c in CASES],
)
async def test_bad_input_is_a_problem_with_a_stable_code(
    client: Client, method: str, path: str, params: object, body: bytes | None, status: int, code: str
) -> None:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    got, problem = await client.call(method, path, "admin_a", params=params, data=body, headers=headers)
    assert (got, problem["code"]) == (status, code), problem
    assert problem["status"] == status
    assert problem["detail"]
    assert "SELECT" not in problem["detail"]
    assert "rowgate_" not in problem["detail"]


async def test_the_wrong_media_type_is_415(client: Client) -> None:
    status, problem = await client.call(
        "POST",
        "/v1/data/tasks",
        "admin_a",
        data=b"title=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert (status, problem["code"]) == (415, "unsupported_media_type")


async def test_a_body_over_the_limit_is_413(client: Client) -> None:
    big = io.BytesIO(b'{"title": "' + b"x" * (1024 * 1024 + 10) + b'"}')
    status, problem = await client.call(
        "POST", "/v1/data/tasks", "admin_a", data=big, headers={"Content-Type": "application/json"}
    )
    assert (status, problem["code"]) == (413, "payload_too_large")


async def test_an_expired_or_forged_token_is_401_not_a_guest(client: Client) -> None:
    status, problem = await client.call(
        "GET", "/v1/data/posts", headers={"Authorization": "Bearer not.a.token"}
    )
    assert status == 401
    assert problem["code"] == "invalid_token"


async def test_unknown_columns_are_named(client: Client) -> None:
    status, problem = await client.call("GET", "/v1/data/tasks", "admin_a", params={"colour": "eq.red"})
    assert status == 400
    assert problem["detail"] == "Unknown column 'colour' in table tasks."
    status, problem = await client.call("GET", "/v1/data/tasks", "admin_a", params={"priority": "approx.2"})
    assert "approx" in problem["detail"]
