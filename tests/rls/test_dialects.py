"""Other dialects: tables of the policy's default schema are written unqualified, and filtered
reads end in the dialect's fence (``rls.fences``; ``test_fences`` shows what it keeps out).

In SQLite, MySQL and DuckDB a schema-qualified name (``"public"."notes"``) names another database
or an attached file, so the rewriter writes the default schema's tables as bare names there and
keeps the schema of every other table.  The statements run as written on SQLite (the standard
library's), including the cases where a bare name could be mistaken: a CTE named like the table
and a table of an attached database with the same name.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from sqlglot import exp

from rowgate.rls.names import dialect_of
from rowgate.rls.policy import PolicySet, parse_policies
from rowgate.rls.rewrite import Rewriter
from tests.rls import world

USER_A = world.SUBJECTS["user_a"]
TENANT, USER = f"'{world.ORG_A}'", f"'{world.USER_A}'"

STATEMENTS = [
    "SELECT n.body FROM notes n JOIN projects p ON p.id = n.id",
    "WITH notes AS (SELECT * FROM notes) SELECT id FROM notes",
    "UPDATE notes SET body = 'x' WHERE id = 1",
    "INSERT INTO notes (id, body) VALUES (1, 'x')",
    "DELETE FROM notes WHERE id = 1",
]


@pytest.mark.parametrize(
    ("dialect", "q", "fence"),
    [
        ("sqlite", "`", " LIMIT 9223372036854775807 OFFSET 0"),
        ("mysql", "`", " LIMIT 18446744073709551615"),
        ("duckdb", '"', " LIMIT 9223372036854775807"),
    ],
)
def test_default_schema_tables_are_written_unqualified(
    policies: PolicySet, dialect: str, q: str, fence: str
) -> None:
    rewriter = Rewriter(policies, dialect, schema=world.world_schema())

    read, cte, update, insert, delete = (rewriter.rewrite(sql, USER_A).sql for sql in STATEMENTS)

    def n(name: str) -> str:
        return f"{q}{name}{q}"

    notes = n("notes")
    mine = f"{notes}.{n('org_id')} = {TENANT} AND {notes}.{n('created_by')} = {USER}"
    listed = ", ".join(n(c) for c in ("id", "org_id", "created_by", "body", "pinned"))
    assert read == (
        f"SELECT {n('n')}.{n('body')} FROM (SELECT {listed} FROM {notes} WHERE {mine}{fence}) AS {n('n')} "
        "JOIN (SELECT "
        + ", ".join(n(c) for c in ("id", "org_id", "created_by", "name", "archived", "budget"))
        + f" FROM {n('projects')} WHERE {n('projects')}.{n('org_id')} = {TENANT}{fence}) AS {n('p')}"
        + f" ON {n('p')}.{n('id')} = {n('n')}.{n('id')}"
    )
    assert cte == (
        f"WITH {n('rowgate_cte_1')} AS (SELECT * FROM (SELECT {listed} FROM {notes} WHERE {mine}{fence}) "
        f"AS {notes}) SELECT {n('id')} FROM {n('rowgate_cte_1')} AS {notes}"
    )
    assert update == f"UPDATE {notes} AS {notes} SET {n('body')} = 'x' WHERE ({mine}) AND {n('id')} = 1"
    assert insert == (
        f"INSERT INTO {notes} ({n('id')}, {n('body')}, {n('org_id')}, {n('created_by')}) "
        f"VALUES (1, 'x', {TENANT}, {USER})"
    )
    assert delete == f"DELETE FROM {notes} AS {notes} WHERE ({mine}) AND {n('id')} = 1"


def test_postgresql_keeps_every_table_schema_qualified(rewriter: Rewriter) -> None:
    for sql in STATEMENTS:
        (tree,) = dialect_of("postgres").parse(rewriter.rewrite(sql, USER_A).sql)
        assert tree is not None
        tables = [t for t in tree.find_all(exp.Table) if not t.name.startswith("rowgate_cte_")]
        assert tables, sql
        assert all(t.db == "public" for t in tables), sql


def _archive_policies() -> PolicySet:
    return parse_policies(
        {
            "defaults": {"tenant_column": "org_id"},
            "tables": {
                "notes": {"select": ["user"], "insert": ["user"]},
                "archive.notes": {"select": ["user"]},
            },
        }
    )


ARCHIVE_SCHEMA = {"public.notes": ["id", "org_id", "body"], "archive.notes": ["id", "org_id", "body"]}


def test_tables_of_other_schemas_keep_their_schema() -> None:
    rewriter = Rewriter(_archive_policies(), "sqlite", schema=ARCHIVE_SCHEMA)

    sql = rewriter.rewrite("SELECT n.id, a.id FROM notes n, archive.notes a", USER_A).sql

    assert "FROM `notes` WHERE" in sql
    assert "FROM `archive`.`notes` WHERE" in sql


@pytest.fixture
def sqlite() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    conn.execute("ATTACH DATABASE ':memory:' AS archive")
    for table in ("notes", "archive.notes"):
        conn.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, org_id TEXT NOT NULL, body TEXT)")
    conn.executemany(
        "INSERT INTO notes VALUES (?, ?, ?)",
        [(1, world.ORG_A, "mine"), (2, world.ORG_B, "theirs"), (3, world.ORG_A, "also mine")],
    )
    conn.executemany(
        "INSERT INTO archive.notes VALUES (?, ?, ?)", [(1, world.ORG_A, "old"), (2, world.ORG_B, "old")]
    )
    try:
        yield conn
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT id FROM notes ORDER BY id", [(1,), (3,)]),
        ("SELECT body FROM archive.notes", [("old",)]),
        # a CTE named like the table: its body reads the table, the CTE does not capture it
        ("WITH notes AS (SELECT id + 10 AS id FROM notes) SELECT id FROM notes ORDER BY id", [(11,), (13,)]),
        ("SELECT n.id, a.body FROM notes n JOIN archive.notes a ON a.id = n.id", [(1, "old")]),
    ],
)
def test_the_rewritten_statements_run_on_sqlite(
    sqlite: sqlite3.Connection, sql: str, expected: list[tuple[object, ...]]
) -> None:
    rewriter = Rewriter(_archive_policies(), "sqlite", schema=ARCHIVE_SCHEMA)

    assert sqlite.execute(rewriter.rewrite(sql, USER_A).sql).fetchall() == expected


def test_an_insert_lands_in_the_callers_tenant_on_sqlite(sqlite: sqlite3.Connection) -> None:
    rewriter = Rewriter(_archive_policies(), "sqlite", schema=ARCHIVE_SCHEMA)

    sqlite.execute(rewriter.rewrite("INSERT INTO notes (id, body) VALUES (9, 'new')", USER_A).sql)

    assert sqlite.execute("SELECT org_id FROM notes WHERE id = 9").fetchall() == [(world.ORG_A,)]
    assert sqlite.execute("SELECT count(*) FROM archive.notes").fetchall() == [(2,)]
