"""Rewritten statements on a real database: the security barrier holds, leakproof conditions
still use indexes, writes that PostgreSQL would refuse are refused."""

from __future__ import annotations

import json
from datetime import timedelta

import asyncpg
import pytest

from rowgate.errors import BadRequest
from rowgate.proxy.data.execute import execute, run, set_subject
from rowgate.rls.errors import WriteRefused
from rowgate.rls.introspect import introspect
from rowgate.rls.policy import parse_policies
from rowgate.rls.rewrite import Rewriter
from rowgate.rls.subject import Subject
from tests.rls import world
from tests.rls.conftest import World

pytestmark = pytest.mark.integration

USER_A = world.SUBJECTS["user_a"]


async def test_a_failing_condition_never_runs_on_rows_the_caller_cannot_see(
    built: World, rewriter: Rewriter
) -> None:
    await built.conn.execute("INSERT INTO tasks (id, org_id, title) VALUES (900, $1, 'x')", world.ORG_B)
    sql = "SELECT id FROM tasks WHERE 1/(CASE WHEN title = 'x' THEN 0 ELSE 1 END) = 1"
    with pytest.raises(asyncpg.DivisionByZeroError):
        await built.conn.fetch(sql)  # the data does hold a row that makes it fail

    result = await run(built.conn, rewriter.rewrite(sql, USER_A), USER_A)

    expected = sorted(r[0] for r in world.seed_rows()["tasks"] if r[1] == world.ORG_A and r[6] < 5)
    assert sorted(r["id"] for r in result.rows) == expected


async def test_a_failing_cast_in_a_join_never_sees_another_tenants_rows(
    built: World, rewriter: Rewriter
) -> None:
    sql = (
        "SELECT t.id FROM tasks t JOIN projects p ON p.id = t.project_id "
        f"WHERE CASE WHEN p.org_id = '{world.ORG_B}' THEN CAST(p.name AS int) ELSE 1 END > 0"
    )
    with pytest.raises(asyncpg.InvalidTextRepresentationError):
        await built.conn.fetch(sql)

    result = await run(built.conn, rewriter.rewrite(sql, USER_A), USER_A)

    assert result.rows


async def _plan(conn: asyncpg.Connection, sql: str, params: tuple[str, ...]) -> str:
    async with conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        rows = await conn.fetch(f"EXPLAIN (FORMAT JSON) {sql}", *params)
    return json.dumps(json.loads(rows[0][0]))


async def test_a_leakproof_condition_is_served_by_the_index(built: World, rewriter: Rewriter) -> None:
    rewritten = rewriter.rewrite("SELECT id, title FROM tasks WHERE title = 'alpha 1'", USER_A)

    plan = await _plan(built.conn, rewritten.sql, rewritten.params)

    assert '"Index Name": "tasks_title"' in plan


async def test_the_plan_filters_rows_before_the_callers_failing_condition(
    built: World, rewriter: Rewriter
) -> None:
    sql = "SELECT id FROM tasks WHERE 1/(CASE WHEN title = 'x' THEN 0 ELSE 1 END) = 1"
    rewritten = rewriter.rewrite(sql, USER_A)

    plan = json.loads(await _plan(built.conn, rewritten.sql, rewritten.params))[0]["Plan"]

    scan = plan["Plans"][0]
    assert plan["Node Type"] == "Subquery Scan"
    assert "1 / CASE" in plan["Filter"]
    assert scan["Relation Name"] == "tasks"
    assert "1 / CASE" not in json.dumps(scan)
    assert "org_id = " in scan.get("Index Cond", "") + scan.get("Filter", "")


async def test_a_function_of_a_column_stays_above_the_barrier(built: World, rewriter: Rewriter) -> None:
    rewritten = rewriter.rewrite("SELECT id FROM tasks WHERE lower(title) = 'alpha 1'", USER_A)

    assert """OFFSET 0) AS "tasks" WHERE LOWER("title") = 'alpha 1'""" in rewritten.sql
    assert '"Index Name": "tasks_title"' not in await _plan(built.conn, rewritten.sql, rewritten.params)


async def test_an_upsert_onto_another_tenants_row_is_refused(built: World, rewriter: Rewriter) -> None:
    other = next(r[0] for r in world.seed_rows()["tasks"] if r[1] == world.ORG_B)
    sql = f"INSERT INTO tasks (id, title) VALUES ({other}, 'mine') ON CONFLICT (id) DO UPDATE SET title = 'm'"

    with pytest.raises(WriteRefused, match="existing row is not one this caller may update"):
        await run(built.conn, rewriter.rewrite(sql, USER_A), USER_A)

    title = await built.conn.fetchval("SELECT title FROM tasks WHERE id = $1", other)
    assert title not in ("mine", "m")


async def test_an_update_that_would_move_a_row_to_another_tenant_is_refused(
    built: World, rewriter: Rewriter
) -> None:
    admin = world.SUBJECTS["admin_a"]
    sql = f"UPDATE projects SET org_id = '{world.ORG_B}' WHERE id = 1"

    with pytest.raises(WriteRefused):
        await run(built.conn, rewriter.rewrite(sql, admin), admin)

    assert await built.conn.fetchval("SELECT org_id::text FROM projects WHERE id = 1") == world.ORG_A


async def test_an_update_matching_no_row_succeeds_whatever_it_sets(built: World, rewriter: Rewriter) -> None:
    admin = world.SUBJECTS["admin_a"]
    sql = f"UPDATE projects SET org_id = '{world.ORG_B}' WHERE id = -1"

    result = await run(built.conn, rewriter.rewrite(sql, admin), admin)

    assert result.rowcount == 0


async def test_an_insert_gets_the_callers_tenant_and_owner(built: World, rewriter: Rewriter) -> None:
    sql = "INSERT INTO notes (id, body) VALUES (500, 'hello') RETURNING id"

    result = await run(built.conn, rewriter.rewrite(sql, USER_A), USER_A)

    row = await built.conn.fetchrow("SELECT org_id::text, created_by::text FROM notes WHERE id = 500")
    assert (result.rowcount, tuple(row)) == (1, (world.ORG_A, world.USER_A))


async def test_ids_bind_as_text_whatever_the_column_type(fresh_database: str) -> None:
    conn = await asyncpg.connect(fresh_database)
    try:
        await conn.execute(
            "CREATE TABLE accounts (id bigint PRIMARY KEY, org_id bigint NOT NULL, owner_id bigint, "
            "name text);"
            "INSERT INTO accounts VALUES (1, 42, 7, 'mine'), (2, 42, 8, 'colleague'), (3, 43, 9, 'other')"
        )
        policies = parse_policies(
            {
                "defaults": {"tenant_column": "org_id", "owner_column": "owner_id"},
                "tables": {"accounts": {"select": ["user"], "insert": ["user"], "update": ["self"]}},
            }
        )
        rewriter = Rewriter(policies, schema=await introspect(conn))
        member = Subject("7", "42", frozenset({"user"}))

        read = await run(conn, rewriter.rewrite("SELECT id FROM accounts ORDER BY id", member), member)
        wrote = await run(
            conn, rewriter.rewrite("INSERT INTO accounts (id, name) VALUES (4, 'new')", member), member
        )
        moved = await run(
            conn, rewriter.rewrite("UPDATE accounts SET name = 'x' WHERE id = 1", member), member
        )

        assert [r["id"] for r in read.rows] == [1, 2]
        assert (wrote.rowcount, moved.rowcount) == (1, 1)
        assert tuple(await conn.fetchrow("SELECT org_id, owner_id FROM accounts WHERE id = 4")) == (42, 7)
    finally:
        await conn.close()


async def test_bound_values_of_a_filtered_column_are_checked_on_the_rows_inserted(
    built: World, rewriter: Rewriter
) -> None:
    sql = "INSERT INTO tasks (id, title, priority) VALUES ($1, $2, $3)"
    rewritten = rewriter.rewrite(sql, USER_A, 3)

    allowed = await run(built.conn, rewritten, USER_A, [700, "allowed", 4])
    with pytest.raises(WriteRefused, match="new row of tasks would not pass its insert policy"):
        await run(built.conn, rewritten, USER_A, [701, "refused", 5])

    assert (allowed.rowcount, allowed.rows) == (1, [])  # rowgate's check rows are dropped
    rows = await built.conn.fetch("SELECT id, org_id::text, priority FROM tasks WHERE id >= 700")
    assert [tuple(r) for r in rows] == [(700, world.ORG_A, 4)]


async def test_one_failing_row_refuses_the_whole_insert(built: World, rewriter: Rewriter) -> None:
    sql = "INSERT INTO tasks (id, title, priority) VALUES ($1, 'a', $2), ($3, 'b', $4) RETURNING title, id"
    rewritten = rewriter.rewrite(sql, USER_A, 4)

    with pytest.raises(WriteRefused):
        await run(built.conn, rewritten, USER_A, [710, 1, 711, 9])
    result = await run(built.conn, rewritten, USER_A, [712, 1, 713, 2])

    assert [tuple(r) for r in result.rows] == [("a", 712), ("b", 713)]  # the names are the caller's
    assert await built.conn.fetchval("SELECT count(*) FROM tasks WHERE id IN (710, 711)") == 0


async def test_an_insert_select_is_checked_row_by_row_as_it_runs(built: World, rewriter: Rewriter) -> None:
    visible = [r for r in world.seed_rows()["tasks"] if r[1] == world.ORG_A and r[6] < 5]
    sql = "INSERT INTO tasks (id, title, priority) SELECT id + 1000, title, priority + $1 FROM tasks"
    rewritten = rewriter.rewrite(sql, USER_A, 1)

    with pytest.raises(WriteRefused):
        await run(built.conn, rewritten, USER_A, [5 - min(r[6] for r in visible)])
    copied = await run(built.conn, rewritten, USER_A, [4 - max(r[6] for r in visible)])

    assert copied.rowcount == len(visible)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE TASKS SET done = NOT done",
        "UPDATE tasks T SET done = NOT T.done WHERE T.id > 0",
        "DELETE FROM Notes N WHERE N.id = -1",
        "INSERT INTO tasks AS T (id, title, priority) VALUES (720, 'x', abs(-1)) RETURNING T.id",
        "INSERT INTO Tasks AS T (id, title) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET title = 'y'",
    ],
)
async def test_write_targets_named_in_any_case_run(built: World, rewriter: Rewriter, sql: str) -> None:
    admin = world.SUBJECTS["admin_a"]
    subject = USER_A if sql.startswith(("INSERT INTO tasks AS", "DELETE")) else admin

    result = await run(built.conn, rewriter.rewrite(sql, subject), subject)

    assert result.status.split()[0] in ("UPDATE", "DELETE", "INSERT")


def _nodes(plan: dict[str, object]) -> list[dict[str, object]]:
    found = [plan]
    for child in plan.get("Plans", []):  # type: ignore[attr-defined]
        found.extend(_nodes(child))
    return found


ORDERED_READS = [
    ("SELECT id, title FROM tasks ORDER BY title LIMIT 3", ()),
    (
        "SELECT id, title FROM tasks t WHERE t.done = $1 ORDER BY t.title DESC LIMIT $2 OFFSET $3",
        (False, 2, 1),
    ),
    ("SELECT * FROM tasks ORDER BY title DESC LIMIT 4 OFFSET 2", ()),
]


@pytest.mark.parametrize(("sql", "params"), ORDERED_READS)
async def test_an_ordered_single_table_read_walks_the_index_in_order(
    built: World, rewriter: Rewriter, sql: str, params: tuple[object, ...]
) -> None:
    rewritten = rewriter.rewrite(sql, USER_A, len(params))
    async with built.conn.transaction():
        # No sort may serve the order: only an index scan inside the filter can.
        await built.conn.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off")
        rows = await built.conn.fetch(f"EXPLAIN (FORMAT JSON) {rewritten.sql}", *params, *rewritten.params)
    nodes = _nodes(json.loads(rows[0][0])[0]["Plan"])

    scans = [n for n in nodes if n.get("Relation Name") == "tasks"]
    assert [n.get("Index Name") for n in scans] == ["tasks_title"]
    assert scans[0]["Node Type"] == "Index Scan"
    assert not [n for n in nodes if n["Node Type"] in ("Sort", "Incremental Sort") and n is not nodes[0]]


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        *ORDERED_READS,
        ("SELECT * FROM tasks ORDER BY title DESC NULLS LAST, id LIMIT 4 OFFSET 2", ()),
        ("SELECT id, title FROM tasks ORDER BY priority, id LIMIT $1 OFFSET $2", (3, None)),
        ("SELECT id FROM tasks ORDER BY done, id LIMIT $1", (None,)),
    ],
)
async def test_an_ordered_read_answers_as_it_would_without_the_pushdown(
    built: World, rewriter: Rewriter, sql: str, params: tuple[object, ...]
) -> None:
    rewritten = rewriter.rewrite(sql, USER_A, len(params))
    assert "ORDER BY" in rewritten.sql.split("OFFSET 0")[0]
    visible = "(SELECT id, org_id, created_by, project_id, title, priority, done FROM tasks "
    visible += f"WHERE org_id = '{world.ORG_A}' AND priority < 5) AS"
    by_hand = sql.replace("FROM tasks t", f"FROM {visible} t").replace(
        "FROM tasks ORDER", f"FROM {visible} tasks ORDER"
    )

    ours = await run(built.conn, rewritten, USER_A, params)
    expected = await built.conn.fetch(by_hand, *params)

    assert [tuple(r) for r in ours.rows] == [tuple(r) for r in expected]


async def test_a_statement_is_prepared_once_per_connection_and_then_only_executed(
    built: World, rewriter: Rewriter
) -> None:
    rewritten = rewriter.rewrite("SELECT id FROM notes WHERE id > $1", USER_A, 1)

    for bound in (0, 1, 2):
        await run(built.conn, rewritten, USER_A, [bound])

    executions = await built.conn.fetch(
        "SELECT generic_plans + custom_plans FROM pg_prepared_statements WHERE statement = $1",
        rewritten.sql,
    )
    assert [row[0] for row in executions] == [3]


async def test_max_rows_caps_what_a_statement_may_return(built: World, rewriter: Rewriter) -> None:
    visible = sum(1 for r in world.seed_rows()["projects"] if r[1] == world.ORG_A)
    admin = world.SUBJECTS["admin_a"]
    everything = rewriter.rewrite("SELECT id FROM projects", admin)

    with pytest.raises(BadRequest) as caught:
        await run(built.conn, everything, admin, max_rows=visible - 1)
    result = await run(built.conn, everything, admin, max_rows=visible)

    assert caught.value.code == "too_many_rows"
    assert len(result.rows) == visible


async def test_a_statement_timeout_cancels_the_statement_and_ends_with_it(
    built: World, rewriter: Rewriter
) -> None:
    slow = rewriter.rewrite("SELECT count(*) FROM generate_series(1, 1000000000) AS g", USER_A)
    before = await built.conn.fetchval("SHOW statement_timeout")

    with pytest.raises(asyncpg.QueryCanceledError):
        await run(built.conn, slow, USER_A, statement_timeout=timedelta(milliseconds=20))

    assert await built.conn.fetchval("SHOW statement_timeout") == before


async def test_execute_describes_the_result_columns_even_without_rows(
    built: World, rewriter: Rewriter
) -> None:
    rewritten = rewriter.rewrite("SELECT id, body AS text FROM notes WHERE id < 0", USER_A)

    async with built.conn.transaction():
        await set_subject(built.conn, USER_A)
        result = await execute(built.conn, rewritten, describe=True)

    assert (result.rows, result.columns) == ([], (("id", "int8"), ("text", "text")))
