"""``POST /v1/sql``: statements rewritten for the caller and run; explain for admins; access and
limits from config; refusals and database errors as problems."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import asyncpg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from rowgate.config import Settings
from tests.conftest import RunningServer
from tests.data import world
from tests.data.conftest import Client, Start

pytestmark = pytest.mark.integration


async def sql(
    client: Client, caller: str | None, statement: str, *params: object, **extra: object
) -> tuple[int, dict]:  # type: ignore[type-arg]
    return await client.call(
        "POST", "/v1/sql", caller, json={"sql": statement, "params": list(params), **extra}
    )


async def test_a_select_sees_only_the_callers_rows_and_columns(client: Client) -> None:
    status, body = await sql(client, "user_b", "SELECT * FROM tasks ORDER BY id")
    assert status == 200, body
    expected = sorted(r["id"] for r in world.visible_tasks(world.CALLERS["user_b"]))
    assert [r["id"] for r in body["rows"]] == expected
    assert body["rowCount"] == len(expected)
    names = [c["name"] for c in body["columns"]]
    assert "internal_notes" not in names
    assert body["columns"][0] == {"name": "id", "type": "uuid"}


async def test_parameters_are_bound_with_their_inferred_types(client: Client) -> None:
    status, body = await sql(
        client,
        "admin_a",
        "SELECT id, due FROM tasks WHERE priority >= $1 AND due < $2 AND created_by = $3 ORDER BY id",
        2,
        "2024-02-06",
        world.USER_A,
    )
    assert status == 200, body
    expected = [
        r["id"]
        for r in sorted(world.visible_tasks(world.CALLERS["admin_a"]), key=lambda r: r["id"])
        if r["priority"] >= 2
        and r["due"] is not None
        and r["due"].isoformat() < "2024-02-06"
        and r["created_by"] == world.USER_A
    ]
    assert [r["id"] for r in body["rows"]] == expected
    status, body = await sql(client, "admin_a", "SELECT id FROM tasks WHERE priority = $1", "high")
    assert (status, body["code"]) == (422, "invalid_parameter")
    assert body["errors"][0]["field"] == "params[0]"


async def test_joins_and_aggregates_stay_inside_the_tenant(client: Client) -> None:
    status, body = await sql(
        client,
        "user_a",
        "SELECT p.name, count(t.id) AS n FROM projects p LEFT JOIN tasks t ON t.project_id = p.id "
        "GROUP BY p.name ORDER BY p.name",
    )
    assert status == 200, body
    assert {r["name"] for r in body["rows"]} == {"alpha", "beta"}
    status, body = await sql(client, "user_a", "SELECT count(*) AS n FROM tasks")
    assert body["rows"] == [{"n": len(world.visible_tasks(world.CALLERS["user_a"]))}]


async def test_writes_through_sql_follow_the_policy(client: Client) -> None:
    status, body = await sql(
        client, "user_a", "INSERT INTO tasks (title) VALUES ($1) RETURNING id, org_id", "via sql"
    )
    assert status == 200, body
    assert body["rows"][0]["org_id"] == world.ORG_A
    assert body["rowCount"] == 1
    status, body = await sql(client, "user_a", "UPDATE tasks SET title = title || '!'")
    assert status == 200
    own = [r for r in world.visible_tasks(world.CALLERS["user_a"]) if r["created_by"] == world.USER_A]
    assert body["rowCount"] == len(own) + 1  # self: only the caller's tasks, the new one included
    assert body["rows"] == []
    status, body = await sql(client, "user_a", "DELETE FROM projects")
    assert (status, body["code"], body["missing"]) == (403, "permission_denied", ["projects:delete"])


@pytest.mark.parametrize(
    ("statement", "code"),
    [
        ("SELEC * FROM tasks", "parse_error"),
        ("SELECT * FROM tasks; DROP TABLE tasks", "statement_not_allowed"),
        ("DROP TABLE tasks", "statement_not_allowed"),
        ("SELECT * FROM rowgate.users", "table_not_allowed"),
        ("SELECT * FROM rowgate.signing_keys", "table_not_allowed"),
        ("SELECT * FROM pg_catalog.pg_authid", "table_not_allowed"),
        ("SELECT * FROM unlisted", "table_not_allowed"),
        ("SELECT pg_sleep(1)", "function_not_allowed"),
        ("SELECT current_setting('rowgate.org_id')", "function_not_allowed"),
        ("SELECT set_config('rowgate.org_id', 'x', true)", "function_not_allowed"),
        ("SELECT * FROM tasks WHERE id = $2", "bad_parameter"),
        ("", "empty_statement"),
    ],
)
async def test_statements_the_engine_refuses_are_400(client: Client, statement: str, code: str) -> None:
    status, body = await sql(client, "admin_a", statement)
    assert status == 400, body
    assert body["code"] in (code, "query_refused"), body


#: Statements that escaped before issue 10: a string where a name stands was printed verbatim
#: (other tenants' rows, password hashes, writes in other tenants, a membership of another
#: organisation, server files); casts to row types answered 503 as if the database were down.
ESCAPES = [
    ("SELECT 1 AS $$x, org_id, title, internal_notes FROM public.tasks --$$", "bad_identifier"),
    ("SELECT 1 AS $$x, email, password_hash FROM rowgate.users --$$", "bad_identifier"),
    ("SELECT 1 AS $q$x, email, password_hash FROM rowgate.users --$q$", "bad_identifier"),
    ("SELECT 1 AS E'x, org_id, internal_notes FROM tasks --'", "bad_identifier"),
    ("SELECT 1 AS N'x, org_id, internal_notes FROM tasks --'", "bad_identifier"),
    ("SELECT 1 AS U&'x, org_id, internal_notes FROM tasks --'", "bad_identifier"),
    ("SELECT id FROM tasks AS $$t, rowgate.users --$$", "bad_identifier"),
    (
        "UPDATE tasks SET title = (SELECT 'x' AS $q$x) WHERE true --$q$) WHERE title = 'none'",
        "bad_identifier",
    ),
    ("DELETE FROM tasks WHERE title = (SELECT 'x' AS $q$x) OR true --$q$) AND false", "bad_identifier"),
    (
        "INSERT INTO tasks (title) VALUES ((SELECT 'x' AS $q$x)); INSERT INTO rowgate.memberships "
        f"(user_id, org_id, role) VALUES ('{world.USER_A}', '{world.ORG_B}', 'owner') --$q$))",
        "bad_identifier",
    ),
    ("SELECT 1 AS $$x, pg_read_file('/etc/passwd') --$$", "bad_identifier"),
    ("SELECT NULL::tasks AS r", "type_not_allowed"),
    ("SELECT jsonb_populate_record(NULL::tasks, '{}')", "type_not_allowed"),
    ("SELECT jsonb_populate_record(NULL::rowgate.users, '{}')", "type_not_allowed"),
    ("SELECT * FROM ROWS FROM (generate_series(1, 2)) AS t", "table_not_allowed"),
]


async def test_strings_where_names_stand_and_row_types_are_400_problems(
    client: Client, migrated_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    before = await _snapshot(migrated_database)

    for statement, code in ESCAPES:
        status, body = await sql(client, "user_a", statement)
        assert (status, body["code"]) == (400, code), (statement, body)
        assert "SELECT" not in body["detail"], body

    assert await _snapshot(migrated_database) == before  # nothing written anywhere
    assert not [r for r in caplog.records if r.exc_info], "a refusal logged a traceback"


async def test_a_result_the_driver_cannot_read_is_a_400_not_an_outage(client: Client) -> None:
    # A whole-row reference yields a record holding a uuid; asyncpg cannot decode it with the
    # data API's text codec for uuid.  The connection is fine: the statement is the problem.
    status, body = await sql(client, "admin_a", "SELECT t FROM tasks t LIMIT 1")
    assert (status, body["code"]) == (400, "unsupported"), body
    status, body = await sql(client, "admin_a", "SELECT count(*) AS n FROM tasks")
    assert status == 200, body  # the pool is still serving


async def test_backslashes_are_read_as_rowgate_verified_them_whatever_the_database_default(
    data_settings: Callable[..., Settings], start_rowgate: Start, client: Client, migrated_database: str
) -> None:
    # With the old escaping, 'a\' would swallow the quote and the text after it; rowgate verified
    # the statement with backslashes literal, and its connections say so.
    conn = await asyncpg.connect(migrated_database)
    try:
        name = urlsplit(migrated_database).path.lstrip("/")
        await conn.execute(f'ALTER DATABASE "{name}" SET standard_conforming_strings = off')
    finally:
        await conn.close()
    server = await start_rowgate(data_settings())

    status, body = await sql(Client(client.http, server), "user_a", "SELECT 'a\\' AS x, 'b' AS y")

    assert status == 200, body
    assert body["rows"] == [{"x": "a\\", "y": "b"}]


async def _snapshot(url: str) -> tuple[object, ...]:
    conn = await asyncpg.connect(url)
    try:
        tasks = await conn.fetch("SELECT id, org_id, title FROM tasks ORDER BY id")
        members = await conn.fetch("SELECT user_id, org_id, role FROM rowgate.memberships ORDER BY 1, 2")
        return (tuple(map(tuple, tasks)), tuple(map(tuple, members)))
    finally:
        await conn.close()


async def test_database_errors_are_problems_without_internals(client: Client) -> None:
    status, body = await sql(client, "admin_a", "INSERT INTO tasks (title) VALUES ('billing 1')")
    assert (status, body["code"], body["sqlstate"]) == (409, "unique_violation", "23505")
    assert "tasks_org_title" not in body["detail"]
    status, body = await sql(client, "admin_a", "SELECT 1 / 0 AS x")
    assert (status, body["code"], body["sqlstate"]) == (422, "invalid_value", "22012")
    status, body = await sql(client, "admin_a", "SELECT nope FROM tasks")
    assert status == 400
    status, body = await sql(client, "admin_a", "SELECT id AS a, title AS a FROM tasks")
    assert (status, body["code"]) == (400, "duplicate_column")


async def test_row_mode_array_answers_repeated_column_names_in_column_order(client: Client) -> None:
    statement = "SELECT * FROM tasks t1 JOIN tasks t2 ON t2.id = t1.id WHERE t1.priority = $1 ORDER BY t1.id"
    status, body = await sql(client, "user_b", statement, 2)
    assert (status, body["code"]) == (400, "duplicate_column")
    assert "rowMode array" in body["detail"]

    status, body = await sql(client, "user_b", statement, 2, rowMode="array")
    assert status == 200, body
    names = [column["name"] for column in body["columns"]]
    half = len(names) // 2
    assert names[:half] == names[half:]
    assert "internal_notes" not in names  # hidden from members, in both halves
    expected = sorted(
        (r for r in world.visible_tasks(world.CALLERS["user_b"]) if r["priority"] == 2), key=lambda r: r["id"]
    )
    assert body["rowCount"] == len(body["rows"]) == len(expected) > 0
    for row, task in zip(body["rows"], expected, strict=True):
        assert isinstance(row, list)
        assert len(row) == len(names)
        assert row[names.index("id")] == row[half + names.index("id")] == task["id"]
        assert row[names.index("title")] == task["title"]

    status, body = await sql(
        client, "user_b", "SELECT id AS a, title AS b FROM tasks LIMIT 1", rowMode="object"
    )
    assert status == 200, body
    assert set(body["rows"][0]) == {"a", "b"}
    status, body = await sql(client, "user_b", "UPDATE tasks SET done = true WHERE false", rowMode="array")
    assert (status, body["rows"], body["rowCount"]) == (200, [], 0)


@pytest.mark.parametrize("mode", ["arrays", "ARRAY", "", None, 1, ["array"], {"mode": "array"}])
async def test_a_bad_row_mode_is_a_problem_naming_the_field(client: Client, mode: object) -> None:
    status, body = await sql(client, "user_b", "SELECT 1 AS x", rowMode=mode)
    assert (status, body["code"]) == (422, "validation_failed"), body
    assert [e["field"] for e in body["errors"]] == ["rowMode"]


async def test_explain_is_for_admins(client: Client) -> None:
    status, body = await sql(client, "admin_a", "SELECT id FROM tasks WHERE priority = $1", 1, explain=True)
    assert status == 200, body
    assert '"org_id" = $2' in body["sql"]
    assert body["rowgateParams"] == [world.ORG_A]
    assert body["tables"][0]["table"] == "public.tasks"
    assert body["tables"][0]["rule"] == "org_id = <tenant>"
    status, body = await sql(client, "user_a", "SELECT id FROM tasks", explain=True)
    assert (status, body["code"]) == (403, "admin_required")


async def test_guests_need_to_sign_in(client: Client) -> None:
    status, body = await sql(client, None, "SELECT * FROM posts")
    assert (status, body["code"]) == (401, "unauthorized")


async def test_too_many_rows_is_refused(
    data_settings: Callable[..., Settings], start_rowgate: Start, client: Client
) -> None:
    server = await start_rowgate(
        data_settings(**{"data.max_rows": 5, "data.max_limit": 5, "data.default_limit": 5})
    )
    small = Client(client.http, server)
    status, body = await sql(small, "admin_a", "SELECT id FROM tasks")
    assert (status, body["code"]) == (400, "too_many_rows")
    status, body = await sql(small, "admin_a", "SELECT id FROM tasks LIMIT 5")
    assert (status, body["rowCount"]) == (200, 5)
    status, body = await small.call(
        "POST", "/v1/data/projects", "admin_a", json=[{"name": f"p{i}"} for i in range(6)]
    )
    assert (status, body["code"]) == (413, "too_many_rows")


async def test_a_slow_statement_times_out_with_504(
    data_settings: Callable[..., Settings], start_rowgate: Start, client: Client
) -> None:
    # One millisecond: reading the catalog at start-up (the policy check) is not a data statement
    # and runs without it, so rowgate starts even on a busy machine.
    server = await start_rowgate(data_settings(**{"data.statement_timeout": "1ms"}))
    status, body = await sql(
        Client(client.http, server),
        "admin_a",
        "SELECT count(*) AS n FROM generate_series(1, 100000000) AS s(x)",
    )
    assert (status, body.get("code")) == (504, "timeout"), body


@pytest.mark.parametrize(
    ("access", "caller", "status"),
    [("off", "admin_a", 404), ("admin", "user_a", 403), ("admin", "admin_a", 200), ("public", None, 200)],
)
async def test_sql_access_follows_config(
    data_settings: Callable[..., Settings],
    start_rowgate: Start,
    client: Client,
    access: str,
    caller: str | None,
    status: int,
) -> None:
    server: RunningServer = await start_rowgate(data_settings(**{"data.sql_access": access}))
    got, body = await sql(Client(client.http, server), caller, "SELECT id FROM posts")
    assert got == status, body


async def test_refusals_are_counted_by_code_in_the_metrics(client: Client) -> None:
    async def refused(code: str) -> float:
        async with client.http.get(f"{client.server.url}/metrics") as response:
            text = await response.text()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "rowgate_rls_refusals_total" and sample.labels == {"code": code}:
                    return sample.value
        return 0.0

    before = await refused("table_not_allowed")
    status, body = await sql(client, "admin_a", "SELECT * FROM unlisted")
    assert (status, body["code"]) == (400, "table_not_allowed")
    assert await refused("table_not_allowed") == before + 1
