"""The owner rule (``rls.owners``) in the rewriter and in the native export: who is bound by it,
what a bound caller's rows get, and what is refused before anything runs."""

from __future__ import annotations

import sqlite3
from typing import Any

import asyncpg
import pytest

from rowgate.proxy.data.execute import set_subject
from rowgate.rls.errors import WriteRefused
from rowgate.rls.export import export_postgres
from rowgate.rls.policy import parse_policies
from rowgate.rls.rewrite import Rewriter
from rowgate.rls.subject import Subject
from tests.rls import world
from tests.rls.conftest import World

ADMIN = Subject("admin-1", "A", frozenset({"admin", "user"}))
MEMBER = Subject("member-1", "A", frozenset({"user"}))
GUEST = Subject.guest("A")


def _rewriter(dialect: str = "postgres", **tasks: Any) -> Rewriter:
    policies = parse_policies(
        {
            "defaults": {"tenant_column": "org_id", "owner_column": "created_by"},
            "tables": {
                "tasks": {
                    "select": ["admin", "user", "guest"],
                    "insert": ["admin", "user", "guest"],
                    **tasks,
                },
                "board": {
                    "tenant_column": None,
                    "shared": True,
                    "select": ["admin", "user"],
                    "insert": ["admin", "user"],
                    "update": ["admin"],
                },
            },
        }
    )
    schema = {"tasks": ["id", "org_id", "created_by", "title"], "board": ["id", "created_by", "title"]}
    return Rewriter(policies, dialect, schema=schema)


def _refusal(rewriter: Rewriter, sql: str, subject: Subject) -> str:
    with pytest.raises(WriteRefused) as refused:
        rewriter.rewrite(sql, subject)
    assert refused.value.code == "write_refused"
    return refused.value.detail


def test_a_member_names_only_itself_and_an_admin_anyone_of_its_tenant() -> None:
    rewriter = _rewriter()
    forged = "INSERT INTO tasks (title, created_by) VALUES ('x', 'admin-1')"

    assert "another owner" in _refusal(rewriter, forged, MEMBER)
    assert rewriter.rewrite(forged, ADMIN).params == ("A",)
    assert rewriter.rewrite("INSERT INTO tasks (title, created_by) VALUES ('x', 'member-1')", MEMBER)
    filled = rewriter.rewrite("INSERT INTO tasks (title) VALUES ('x')", MEMBER)
    assert filled.params == ("A", "member-1")


def test_a_guest_bound_by_the_rule_writes_no_owner() -> None:
    rewriter = _rewriter()

    filled = rewriter.rewrite("INSERT INTO tasks (title) VALUES ('x')", GUEST)
    assert filled.sql.endswith("VALUES ('x', $1, NULL)")
    assert "another owner" in _refusal(
        rewriter, "INSERT INTO tasks (title, created_by) VALUES ('x', 'member-1')", GUEST
    )


def test_no_admin_of_a_shared_table_names_another_owner() -> None:
    rewriter = _rewriter()

    assert "another owner" in _refusal(
        rewriter, "INSERT INTO board (title, created_by) VALUES ('x', 'member-1')", ADMIN
    )
    # An UPDATE fails only on the rows it changes, as it runs (as PostgreSQL's WITH CHECK).
    assert "another owner" in rewriter.rewrite("UPDATE board SET created_by = 'member-1'", ADMIN).sql
    assert "another owner" not in rewriter.rewrite("UPDATE board SET title = 'y'", ADMIN).sql


def test_setting_the_owner_column_to_itself_still_names_an_owner() -> None:
    # As the native trigger (UPDATE OF the column) sees it: the rows must be the caller's.
    rewriter = Rewriter(world.world_policies(), "postgres", schema=world.world_schema())
    editor = world.SUBJECTS["editor_a"]  # updates projects through role:editor, not as an admin

    sql = rewriter.rewrite("UPDATE projects SET name = 'y', created_by = created_by", editor).sql
    assert "another owner" in sql
    assert "another owner" not in rewriter.rewrite("UPDATE projects SET name = 'y'", editor).sql


def test_owner_writable_lifts_the_rule() -> None:
    rewriter = _rewriter(owner_writable=True)

    rewritten = rewriter.rewrite("INSERT INTO tasks (title, created_by) VALUES ('x', 'admin-1')", MEMBER)

    assert rewritten.params == ("A",)


def test_outside_postgresql_an_owner_is_checked_before_it_runs_or_refused() -> None:
    rewriter = _rewriter("sqlite", update=["user"])

    for sql in (
        "INSERT INTO tasks (title, created_by) SELECT title, created_by FROM tasks",
        "INSERT INTO tasks (title, created_by) VALUES ('x', lower('MEMBER-1'))",
        "UPDATE tasks SET created_by = upper(created_by)",
    ):
        assert "cannot check the owner column" in _refusal(rewriter, sql, MEMBER), sql
    assert "another owner" in _refusal(
        rewriter, "INSERT INTO tasks (title, created_by) VALUES ('x', 'admin-1')", MEMBER
    )
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE tasks (id INTEGER PRIMARY KEY, org_id TEXT, created_by TEXT, title TEXT)")
    db.execute(rewriter.rewrite("INSERT INTO tasks (title) VALUES ('x')", MEMBER).sql)
    # Outside PostgreSQL an UPDATE naming another owner changes no row (no error to raise).
    db.execute(rewriter.rewrite("UPDATE tasks SET created_by = 'admin-1', title = 'y'", MEMBER).sql)
    assert db.execute("SELECT org_id, created_by, title FROM tasks").fetchall() == [("A", "member-1", "x")]
    db.execute(rewriter.rewrite("UPDATE tasks SET created_by = 'member-1', title = 'z'", MEMBER).sql)
    assert db.execute("SELECT title FROM tasks").fetchall() == [("z",)]


def test_the_export_states_the_rule_as_a_trigger() -> None:
    text = export_postgres(world.world_policies(), world.world_schema())

    assert (
        'CREATE TRIGGER "rowgate_tasks_owner" BEFORE INSERT OR UPDATE OF "created_by" ON "public"."tasks" '
        'FOR EACH ROW EXECUTE FUNCTION "public"."rowgate_tasks_owner"();'
    ) in text
    assert "TG_OP IN ('INSERT', 'UPDATE') AND 'admin' = ANY" in text  # tasks: admins insert and update
    posts = text[text.index("-- public.posts") : text.index("-- public.notes")]
    assert "'admin'" not in posts.split("CREATE OR REPLACE FUNCTION")[1]  # shared: no admin exemption
    writable = parse_policies(
        {"tables": {"tasks": {"owner_column": "created_by", "select": ["user"], "owner_writable": True}}}
    )
    text = export_postgres(writable)
    assert 'DROP TRIGGER IF EXISTS "rowgate_tasks_owner"' in text
    assert "CREATE TRIGGER" not in text


@pytest.mark.integration
async def test_the_trigger_binds_callers_under_row_security_not_the_apps_own_writes(built: World) -> None:
    conn = built.conn
    await conn.execute(export_postgres(world.world_policies(), world.world_schema()))
    member = world.SUBJECTS["user_a"]
    forged = f"INSERT INTO notes (id, body, created_by) VALUES (500, 'x', '{world.ADMIN_A}')"

    async with conn.transaction():
        await set_subject(conn, member)
        await conn.execute(f'SET LOCAL ROLE "{built.role}"')
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="owner column"):
            await conn.execute(forged)
    # The table's owner (a superuser here), as the app's own maintenance writes: not bound.
    await conn.execute(
        "INSERT INTO notes (id, org_id, body, created_by) "
        f"VALUES (500, '{world.ORG_A}', 'x', '{world.ADMIN_A}')"
    )
    assert await conn.fetchval("SELECT created_by::text FROM notes WHERE id = 500") == world.ADMIN_A
