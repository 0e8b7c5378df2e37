"""Statements that try to escape the row filters, table-driven: each is refused, or runs and
returns only what the caller may see (no other tenant's id, no hidden column's value, nothing
from a table without a policy).

Subjects are the test world's (``user_a`` unless a case says otherwise); every statement runs
inside a transaction that is rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import pytest

from rowgate.errors import RowgateError
from rowgate.proxy.data.execute import run
from rowgate.rls.errors import QueryRefused, WriteRefused
from rowgate.rls.rewrite import Rewriter
from rowgate.rls.subject import Subject
from tests.rls import world
from tests.rls.conftest import World

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

B, C = world.ORG_B, world.ORG_C


@dataclass(frozen=True)
class Case:
    title: str
    sql: str
    refused: str | None = None  # the error code expected, or None: runs, confined
    subject: str = "user_a"
    params: tuple[object, ...] = ()
    shared: bool = False  # reads a table shared across tenants: other tenants' ids are fine


CASES = [
    # CTE shadowing and scope
    Case(
        "a CTE named like a table hides a table without policy",
        "WITH tasks AS (SELECT * FROM payroll) SELECT * FROM tasks",
        "table_not_allowed",
    ),
    Case(
        "a schema-qualified name is never the CTE",
        "WITH projects AS (SELECT 1 AS id) SELECT * FROM public.projects",
    ),
    Case("a CTE over a filtered table", "WITH x AS (SELECT * FROM tasks) SELECT * FROM x"),
    Case(
        "a quoted CTE name does not capture an unquoted reference",
        'WITH "Tasks" AS (SELECT 1 AS id) SELECT * FROM Tasks',
    ),
    Case("a quoted reference to an unquoted CTE", 'WITH tasks AS (SELECT 1 AS id) SELECT * FROM "tasks"'),
    Case(
        "a CTE cannot see a later sibling",
        "WITH a AS (SELECT * FROM b), b AS (SELECT * FROM tasks) SELECT * FROM a",
        "table_not_allowed",
    ),
    Case(
        "a recursive WITH may refer forward",
        "WITH RECURSIVE a AS (SELECT * FROM b), b AS (SELECT org_id FROM tasks) SELECT * FROM a",
    ),
    Case(
        "a CTE in a subquery does not leak out",
        "SELECT * FROM (WITH tasks AS (SELECT 1 AS x) SELECT * FROM tasks) s, tasks",
    ),
    Case(
        "a CTE's own name inside it is the table", "WITH tasks AS (SELECT * FROM tasks) SELECT * FROM tasks"
    ),
    Case(
        "a recursive CTE that reads a table",
        "WITH RECURSIVE r AS (SELECT id, project_id FROM tasks UNION SELECT t.id, t.project_id FROM tasks t "
        "JOIN r ON r.id = t.id) SELECT * FROM r",
    ),
    # names
    Case("schema-qualified", "SELECT * FROM public.tasks"),
    Case("quoted and schema-qualified", 'SELECT * FROM "public"."tasks"'),
    Case("upper case folds", "SELECT * FROM PUBLIC.TASKS"),
    Case("a quoted upper-case name is another table", 'SELECT * FROM "TASKS"', "table_not_allowed"),
    Case("another schema", "SELECT * FROM other.tasks", "table_not_allowed"),
    Case("another database", "SELECT * FROM postgres.public.tasks", "table_not_allowed"),
    Case("TABLE", "TABLE tasks"),
    Case("TABLE of a table without policy", "TABLE payroll", "table_not_allowed"),
    Case("ONLY", "SELECT * FROM ONLY tasks"),
    Case("TABLESAMPLE", "SELECT * FROM tasks TABLESAMPLE SYSTEM (100)"),
    Case("column aliases on the table", "SELECT * FROM tasks AS t(a, b, c)"),
    Case("a reserved name", "SELECT * FROM rowgate_cte_1", "reserved_name"),
    Case("a reserved alias", "SELECT * FROM tasks AS rowgate_cte_1", "reserved_name"),
    # catalogs
    Case("pg_catalog", "SELECT * FROM pg_catalog.pg_authid", "table_not_allowed"),
    Case("an unqualified catalog", "SELECT * FROM pg_user", "table_not_allowed"),
    Case("information_schema", "SELECT * FROM information_schema.tables", "table_not_allowed"),
    Case("pg_stat_activity", "SELECT query FROM pg_stat_activity", "table_not_allowed"),
    Case("a regclass cast", "SELECT 'payroll'::regclass", "type_not_allowed"),
    Case("to_regclass", "SELECT to_regclass('payroll')", "function_not_allowed"),
    Case("version()", "SELECT version()", "function_not_allowed"),
    Case("current_user", "SELECT current_user", "function_not_allowed"),
    Case("user", "SELECT user", "function_not_allowed"),
    # lateral and set-returning functions
    Case("lateral", "SELECT * FROM projects p, LATERAL (SELECT * FROM tasks t WHERE t.project_id = p.id) s"),
    Case(
        "lateral over a table without policy",
        "SELECT * FROM projects p LEFT JOIN LATERAL (SELECT * FROM payroll) s ON true",
        "table_not_allowed",
    ),
    Case("generate_series", "SELECT * FROM generate_series(1, 3) g, tasks"),
    Case(
        "json_populate_record with a row type",
        "SELECT * FROM json_populate_record(null::tasks, '{\"id\": 1}')",
        "type_not_allowed",
    ),
    Case("unnest of a subquery", "SELECT * FROM unnest(ARRAY(SELECT id FROM tasks)) u"),
    # strings where names stand (issue 10): printed verbatim, they used to become other SQL
    Case(
        "a dollar-quoted alias reading every tenant's rows",
        "SELECT 1 AS $$x, org_id, title, internal_notes FROM public.tasks --$$",
        "bad_identifier",
    ),
    Case(
        "a tagged dollar-quoted alias reading the password hashes",
        "SELECT 1 AS $q$x, email, password_hash FROM rowgate.users --$q$",
        "bad_identifier",
    ),
    Case(
        "an escape-string alias", "SELECT 1 AS E'x, org_id, internal_notes FROM tasks --'", "bad_identifier"
    ),
    Case(
        "a national-string alias", "SELECT 1 AS N'x, org_id, internal_notes FROM tasks --'", "bad_identifier"
    ),
    Case(
        "a Unicode-string alias", "SELECT 1 AS U&'x, org_id, internal_notes FROM tasks --'", "bad_identifier"
    ),
    Case("a string as a table alias", "SELECT 1 FROM tasks AS $$t, rowgate.users --$$", "bad_identifier"),
    Case(
        "a string alias commenting out the guard of an UPDATE",
        "UPDATE tasks SET title = (SELECT 'x' AS $q$x) WHERE true --$q$) WHERE id = 1",
        "bad_identifier",
        subject="admin_a",
    ),
    Case(
        "a string alias smuggling a membership of another organisation",
        "INSERT INTO tasks (id, title) VALUES (900, (SELECT 'x' AS $q$x)); INSERT INTO rowgate.memberships "
        f"VALUES ('{world.USER_A}', '{B}', 'owner') --$q$))",
        "bad_identifier",
    ),
    Case(
        "a string alias reading a server file",
        "SELECT 1 AS $$x, pg_read_file('/etc/passwd') --$$",
        "bad_identifier",
    ),
    Case("a string hidden in a type name", "SELECT NULL::a.$$b, (SELECT 1)$$", "bad_identifier"),
    Case(
        "the same text as a quoted name is only a name",
        'SELECT 1 AS "x, org_id, internal_notes FROM tasks --", id FROM tasks',
    ),
    Case(
        "the same text as a value is only a value",
        "SELECT id FROM tasks WHERE title <> $$x', internal_notes --$$",
    ),
    Case("a table's row type", "SELECT NULL::tasks AS r", "type_not_allowed"),
    Case(
        "rowgate's own row type",
        "SELECT jsonb_populate_record(NULL::rowgate.users, '{}')",
        "type_not_allowed",
    ),
    Case("ROWS FROM", "SELECT * FROM ROWS FROM (generate_series(1, 2)) AS t", "table_not_allowed"),
    # SQL in strings and other escapes
    Case(
        "query_to_xml", "SELECT query_to_xml('select * from payroll', true, true, '')", "function_not_allowed"
    ),
    Case("table_to_xml", "SELECT table_to_xml('payroll', true, true, '')", "function_not_allowed"),
    Case("dblink", "SELECT * FROM dblink('dbname=postgres', 'select 1') AS t(a int)", "function_not_allowed"),
    Case("ts_stat", "SELECT * FROM ts_stat('select to_tsvector(title) from tasks')", "function_not_allowed"),
    Case(
        "query_to_xml inside xpath",
        "SELECT xpath('/a', query_to_xml('select 1', true, true, ''))",
        "function_not_allowed",
    ),
    Case("current_setting", "SELECT current_setting('rowgate.org_id')", "function_not_allowed"),
    Case("set_config", f"SELECT set_config('rowgate.org_id', '{B}', false)", "function_not_allowed"),
    Case("pg_read_file", "SELECT pg_read_file('/etc/passwd')", "function_not_allowed"),
    Case("lo_import", "SELECT lo_import('/etc/passwd')", "function_not_allowed"),
    Case("pg_sleep", "SELECT pg_sleep(10)", "function_not_allowed"),
    Case("schema-qualified function", "SELECT pg_catalog.lower('x')", "function_not_allowed"),
    Case("quoted function name", 'SELECT "pg_sleep"(1)', "function_not_allowed"),
    Case("nextval", "SELECT nextval('x')", "function_not_allowed"),
    Case("OPERATOR syntax", "SELECT 1 OPERATOR(pg_catalog.+) 1", "statement_not_allowed"),
    # writable CTEs, several statements, comments
    Case(
        "a writable CTE", "WITH d AS (DELETE FROM tasks RETURNING *) SELECT * FROM d", "statement_not_allowed"
    ),
    Case(
        "an UPDATE in a CTE",
        "WITH u AS (UPDATE projects SET name = 'x' RETURNING id) SELECT 1",
        "statement_not_allowed",
    ),
    Case(
        "an INSERT in a subquery's CTE",
        "SELECT * FROM tasks WHERE id IN "
        "(WITH i AS (INSERT INTO notes (id, body) VALUES (1, 'x') RETURNING id) SELECT id FROM i)",
        "statement_not_allowed",
    ),
    Case("two statements", "SELECT * FROM tasks; DELETE FROM tasks", "statement_not_allowed"),
    Case(
        "a statement after a comment",
        "SELECT * FROM tasks -- hi\n; DROP TABLE tasks",
        "statement_not_allowed",
    ),
    Case("a statement in a comment", "SELECT * FROM tasks /* ; DROP TABLE tasks */"),
    Case("a quote in a literal", "SELECT * FROM tasks WHERE title = 'a'';DROP TABLE tasks;--'"),
    Case("a dollar-quoted string", "SELECT $$;DELETE FROM tasks;$$"),
    # joins
    Case(
        "a right join to a table without policy",
        "SELECT * FROM tasks t RIGHT JOIN payroll p ON true",
        "table_not_allowed",
    ),
    Case("a right join", "SELECT t.title, p.name FROM tasks t RIGHT JOIN projects p ON p.id = t.project_id"),
    Case("a full join", "SELECT * FROM tasks t FULL JOIN projects p ON p.id = t.project_id"),
    Case("a natural join", "SELECT * FROM tasks NATURAL JOIN projects"),
    Case("a parenthesised join", "SELECT * FROM (tasks t JOIN projects p ON true)"),
    Case("a cross join of a table with itself", "SELECT * FROM tasks t1, tasks t2 WHERE t1.id < 5"),
    Case(
        "EXISTS over a table without policy",
        "SELECT * FROM tasks t WHERE EXISTS (SELECT 1 FROM payroll)",
        "table_not_allowed",
    ),
    Case("ANY over a subquery", "SELECT * FROM projects WHERE id = ANY (SELECT project_id FROM tasks)"),
    Case(
        "a subquery in ORDER BY",
        "SELECT id FROM tasks ORDER BY (SELECT max(salary) FROM payroll)",
        "table_not_allowed",
    ),
    Case(
        "a subquery in HAVING",
        "SELECT count(*) FROM tasks GROUP BY org_id HAVING max((SELECT 1 FROM payroll)) = 1",
        "table_not_allowed",
    ),
    Case("a scalar subquery in VALUES", "VALUES ((SELECT count(*) FROM tasks))"),
    Case("a set operation", "SELECT id, org_id FROM tasks UNION ALL SELECT id, org_id FROM projects"),
    Case("a window", "SELECT id, count(*) OVER () FROM tasks"),
    # hidden columns
    Case("naming a hidden column", "SELECT internal_notes FROM tasks", "column_hidden"),
    Case("naming a hidden column through an alias", "SELECT t.internal_notes FROM tasks t", "column_hidden"),
    Case(
        "naming a hidden column with its schema",
        "SELECT public.tasks.internal_notes FROM public.tasks",
        "column_hidden",
    ),
    Case(
        "filtering on a hidden column",
        "SELECT id FROM tasks t WHERE t.internal_notes = 'secret 1'",
        "column_hidden",
    ),
    Case(
        "a hidden column in a scalar subquery",
        "SELECT (SELECT internal_notes FROM tasks LIMIT 1)",
        "column_hidden",
    ),
    Case("the whole row as JSON", "SELECT row_to_json(t) FROM tasks t"),
    Case("the whole row", "SELECT tasks FROM tasks"),
    Case(
        "RETURNING a hidden column",
        "UPDATE tasks SET title = title RETURNING internal_notes",
        "column_hidden",
    ),
    Case("RETURNING *", "DELETE FROM tasks RETURNING *"),
    Case("RETURNING the whole row", "UPDATE tasks t SET title = 'x' RETURNING t", "column_hidden"),
    Case("RETURNING t.*", "UPDATE tasks t SET title = 'x' RETURNING t.*"),
    Case("SET from a hidden column", "UPDATE tasks SET title = internal_notes", "column_hidden"),
    Case(
        "a write filtered on a hidden column",
        "DELETE FROM tasks WHERE internal_notes LIKE 'secret%'",
        "column_hidden",
    ),
    Case(
        "writing a hidden column",
        "INSERT INTO tasks (id, title, internal_notes) VALUES (901, 'x', 'y')",
        "column_hidden",
    ),
    Case(
        "ON CONFLICT RETURNING a hidden column",
        "INSERT INTO tasks (id, title) VALUES (902, 'x') ON CONFLICT DO NOTHING RETURNING internal_notes",
        "column_hidden",
    ),
    # writes
    Case(
        "an upsert onto another tenant's row",
        "INSERT INTO tasks (id, title) VALUES (3, 'x') ON CONFLICT (id) DO UPDATE SET title = 'pwned'",
        "write_refused",
    ),
    Case(
        "an upsert that moves a row",
        "INSERT INTO tasks (id, title) VALUES (3, 'x') "
        "ON CONFLICT (id) DO UPDATE SET org_id = excluded.org_id",
        "write_refused",
    ),
    Case(
        "an insert into another tenant",
        f"INSERT INTO tasks (id, title, org_id) VALUES (901, 'x', '{B}')",
        "write_refused",
    ),
    Case(
        "an insert with a parameter for the tenant",
        "INSERT INTO tasks (id, title, org_id) VALUES (901, 'x', $1)",
        "write_refused",
        params=(B,),
    ),
    Case("an update that moves rows away", f"UPDATE tasks SET org_id = '{B}'", "write_refused"),
    Case(
        "an update from a table without policy",
        "UPDATE tasks SET title = 'x' FROM payroll",
        "table_not_allowed",
    ),
    Case("a delete the role may not do", "DELETE FROM projects", "operation_not_allowed"),
    Case(
        "an insert into a table without policy",
        f"INSERT INTO payroll VALUES (9, '{world.ORG_A}', 1)",
        "table_not_allowed",
    ),
    Case("a guest write", "UPDATE posts SET title = 'x'", "operation_not_allowed", subject="guest"),
    # parameters
    Case("rowgate's own parameter", "SELECT * FROM tasks WHERE org_id = $2", "bad_parameter", params=(B,)),
    Case("a question-mark placeholder", "SELECT * FROM tasks WHERE id = ?", "bad_parameter"),
    # statements
    Case("COPY", "COPY tasks TO STDOUT", "statement_not_allowed"),
    Case("SET", f"SET rowgate.org_id = '{B}'", "statement_not_allowed"),
    Case("RESET", "RESET ALL", "statement_not_allowed"),
    Case("DO", "DO $$ BEGIN PERFORM 1; END $$", "statement_not_allowed"),
    Case("CALL", "CALL x()", "statement_not_allowed"),
    Case("LOCK", "LOCK TABLE tasks", "statement_not_allowed"),
    Case("EXPLAIN ANALYZE", "EXPLAIN ANALYZE SELECT * FROM payroll", "statement_not_allowed"),
    Case("SELECT INTO", "SELECT * INTO stolen FROM tasks", "statement_not_allowed"),
    Case("VACUUM", "VACUUM tasks", "statement_not_allowed"),
    Case("GRANT", "GRANT SELECT ON payroll TO PUBLIC", "statement_not_allowed"),
    Case("LISTEN", "LISTEN x", "statement_not_allowed"),
    Case("NOTIFY", "NOTIFY x", "statement_not_allowed"),
    Case("PREPARE", "PREPARE p AS SELECT * FROM payroll", "statement_not_allowed"),
    Case("EXECUTE", "EXECUTE p", "statement_not_allowed"),
    Case("ABORT", "ABORT", "statement_not_allowed"),
    Case("SAVEPOINT", "SAVEPOINT a", "statement_not_allowed"),
    Case("BEGIN", "BEGIN", "statement_not_allowed"),
    Case("FOR UPDATE", "SELECT * FROM tasks FOR UPDATE", "statement_not_allowed"),
    Case(
        "MERGE",
        "MERGE INTO tasks t USING projects p ON t.project_id = p.id WHEN MATCHED THEN DELETE",
        "statement_not_allowed",
    ),
    Case("TRUNCATE", "TRUNCATE tasks", "statement_not_allowed"),
    Case("DROP", "DROP TABLE tasks", "statement_not_allowed"),
    Case("CREATE", "CREATE TABLE x (a int)", "statement_not_allowed"),
    Case("ALTER", "ALTER TABLE tasks DISABLE ROW LEVEL SECURITY", "statement_not_allowed"),
    Case("an empty statement", "  -- nothing\n", "parse_error"),
    Case("garbage that parses as an expression", "SELEC * FRM tasks", "statement_not_allowed"),
    Case("garbage", "SELECT * FROM WHERE", "parse_error"),
    # other subjects
    Case("notes are only the caller's own", "SELECT * FROM notes"),
    Case(
        "a guest sees published posts only",
        "SELECT * FROM posts WHERE status <> 'published' OR true",
        subject="guest",
        shared=True,
    ),
    Case(
        "a guest asking for drafts",
        "SELECT * FROM posts WHERE status = 'draft'",
        subject="guest",
        shared=True,
    ),
    Case("a caller without tenant", "SELECT * FROM tasks", subject="homeless"),
]


async def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 60
    assert len({c.title for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.title for c in CASES])
async def test_escape_attempt(case: Case, shared_world: World, rewriter: Rewriter) -> None:
    built = shared_world
    subject = world.SUBJECTS[case.subject]
    transaction = built.conn.transaction()
    await transaction.start()
    try:
        outcome = await _attempt(case, built.conn, rewriter, subject)
    finally:
        await transaction.rollback()
    if case.refused:
        assert isinstance(outcome, RowgateError), f"ran instead of being refused: {outcome}"
        assert outcome.code == case.refused, outcome.detail
        return
    assert not isinstance(outcome, BaseException), outcome
    _assert_confined(outcome, None if case.shared else subject.tenant_id)
    if case.subject == "guest":
        assert all(row["status"] == "published" for row in outcome)
    if case.sql == "SELECT * FROM notes":
        assert outcome
        assert {str(row["created_by"]) for row in outcome} == {subject.user_id}


async def _attempt(
    case: Case, conn: asyncpg.Connection, rewriter: Rewriter, subject: Subject
) -> list[asyncpg.Record] | RowgateError:
    try:
        rewritten = rewriter.rewrite(case.sql, subject, params_count=len(case.params))
        return (await run(conn, rewritten, subject, case.params)).rows
    except (QueryRefused, WriteRefused) as error:
        return error


def _assert_confined(rows: list[asyncpg.Record], tenant: str | None) -> None:
    foreign = {B, C, world.ORG_A} - {tenant} if tenant is not None else set()
    for row in rows:
        for value in row.values():
            text = str(value)
            assert not any(org in text for org in foreign), f"another tenant's row: {dict(row)}"
            assert "secret" not in text, f"a hidden column's value: {dict(row)}"
