"""Fences outside PostgreSQL: a caller's condition never runs on another tenant's rows.

For each dialect of upstream SQL routes, hostile conditions (ones that fail on some values: an
integer overflow, malformed JSON, a scalar subquery of two rows, a failed cast) run in every
statement shape, rewritten for a member of tenant A, on a real engine twice: once with another
tenant's rows in the table and once without.  The outcome (the rows, or the error) must be the
same: if a planner ran the condition on tenant B's rows before the row filter, B's data would
decide whether the statement fails, which is an oracle on it.

The test proves it can see that leak: with the fence taken out of the rewritten statements,
SQLite (an index serving the caller's condition) and MariaDB (a merged derived table) give
different outcomes for some cases.  DuckDB showed no leak even unfenced; it is checked all the
same.  MariaDB runs as the local server on 127.0.0.1:3306 (user root, no password), in a
database of this module's own.
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import duckdb
import pymysql
import pytest

from rowgate.config.schema import UPSTREAM_SQL_DIALECTS
from rowgate.errors import ConfigError
from rowgate.rls.fences import FENCES
from rowgate.rls.policy import parse_policies
from rowgate.rls.rewrite import Rewriter
from rowgate.rls.subject import Subject

pytestmark = pytest.mark.integration

POLICIES = parse_policies(
    {
        "defaults": {"tenant_column": "org_id", "owner_column": "created_by"},
        "tables": {
            "notes": {
                "select": ["admin", "user"],
                "columns": {"all": ["id", "org_id", "created_by", "title"]},
            },
            "tags": {
                "owner_column": None,
                "select": ["user"],
                "columns": {"all": ["id", "org_id", "note_id", "label"]},
            },
        },
    }
)
MEMBER = Subject("alice", "A", frozenset({"user"}))

#: Tenant A's titles sort before 'r' (in case-insensitive collations too); every hostile
#: condition below fails only on a title after 'r', so it can fail only on tenant B's rows, and
#: only if it runs on them.
MINE = [(1, "A", "alice", "apple"), (2, "A", "alice", "mango"), (3, "A", "ann", "kiwi")]
THEIRS = [(50, "B", "bob", "secret"), (51, "B", "bob", "strawberry"), (52, "B", "bob", "zz top")]
TAGS = [(1, "A", 1, "red"), (2, "A", 2, "green"), (60, "B", 50, "hidden")]

#: Statement shapes; ``{p}`` is the caller's condition on ``n`` (a row of notes).
SHAPES = [
    "SELECT n.id FROM notes n WHERE {p}",
    "SELECT count(*) FROM notes n WHERE {p}",
    "SELECT DISTINCT n.title FROM notes n WHERE {p}",
    "SELECT n.id FROM tags t JOIN notes n ON n.id = t.note_id AND {p}",
    "SELECT n.id FROM tags t, notes n WHERE t.note_id = n.id AND {p}",
    "SELECT t.id FROM tags t WHERE EXISTS (SELECT 1 FROM notes n WHERE n.id = t.note_id AND {p})",
    "SELECT t.id FROM tags t WHERE t.note_id IN (SELECT n.id FROM notes n WHERE {p})",
    "SELECT n.id FROM notes n WHERE {p} ORDER BY n.title LIMIT 1",
    "WITH c AS (SELECT n.id, n.title FROM notes n WHERE {p}) SELECT count(*) FROM c",
    "SELECT n.id FROM (SELECT n.id, n.title FROM notes n) n WHERE {p}",
    "SELECT n.id FROM (SELECT id, title FROM notes UNION ALL SELECT id, label FROM tags) n WHERE {p}",
]

#: Conditions that fail on a title after 'r' (an overflow, malformed JSON, a scalar subquery of
#: two rows, a failed cast), per dialect; the first of each is the shape of the reported oracle:
#: an indexed range on the caller's condition, then a term that fails.
HOSTILE = {
    "sqlite": [
        "n.title > 'r' AND (abs(-9223372036854775807 - 1) + n.id) = 0",
        "n.title > 'r' AND CASE WHEN n.title > 'r' THEN json_extract(n.title, '$') END IS NULL",
        "CASE WHEN n.title > 'r' THEN abs(-9223372036854775807 - 1) ELSE 0 END = 0",
    ],
    "mysql": [
        "n.title > 'r' AND EXP(800 * (n.title > 'r')) > 0",
        "n.title > 'r' AND (SELECT t2.id FROM tags t2 WHERE n.title > 'r') = 1",
        "CASE WHEN n.title > 'r' THEN EXP(800 * (n.id > 0)) ELSE 0 END = 0",
    ],
    "duckdb": [
        "n.title > 'r' AND CASE WHEN n.title > 'r' THEN CAST(n.title AS INTEGER) ELSE 1 END = 1",
        "CAST(CASE WHEN n.title > 'r' THEN n.title ELSE '1' END AS INTEGER) = 1",
    ],
}

Outcome = tuple[str, Any]
Run = Callable[[str], Outcome]


def _cases(dialect: str) -> list[str]:
    return [shape.format(p=condition) for shape in SHAPES for condition in HOSTILE[dialect]]


def _unfenced(sql: str, dialect: str) -> str:
    fence = FENCES[dialect]
    text = "" if fence.limit is None else f" LIMIT {fence.limit}"
    return re.sub(re.escape(text + (" OFFSET 0" if fence.offset else "")) + r"(?=\))", "", sql)


def _differences(run_with: Run, run_without: Run, statements: list[str]) -> list[str]:
    found = []
    for sql in statements:
        with_theirs, without = run_with(sql), run_without(sql)
        if with_theirs != without:
            found.append(f"{sql}\n   with B's rows: {with_theirs}\n   without:       {without}")
    return found


def _rewritten(dialect: str) -> list[str]:
    rewriter = Rewriter(POLICIES, dialect)
    return [rewriter.rewrite(sql, MEMBER).sql for sql in _cases(dialect)]


# SQLite -------------------------------------------------------------------------------------------


def _sqlite(theirs: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, org_id TEXT, created_by TEXT, title TEXT)")
    conn.execute("CREATE INDEX notes_title ON notes (title)")
    conn.execute("CREATE TABLE tags (id INTEGER PRIMARY KEY, org_id TEXT, note_id INTEGER, label TEXT)")
    conn.executemany("INSERT INTO notes VALUES (?, ?, ?, ?)", MINE + (THEIRS if theirs else []))
    conn.executemany("INSERT INTO tags VALUES (?, ?, ?, ?)", [t for t in TAGS if theirs or t[1] == "A"])
    return conn


def _sqlite_runner(conn: sqlite3.Connection) -> Run:
    def run(sql: str) -> Outcome:
        try:
            return ("rows", sorted(conn.execute(sql).fetchall(), key=repr))
        except sqlite3.Error as error:
            return ("error", str(error))

    return run


def test_sqlite_outcomes_do_not_depend_on_other_tenants_rows() -> None:
    statements = _rewritten("sqlite")
    run_with, run_without = _sqlite_runner(_sqlite(True)), _sqlite_runner(_sqlite(False))

    assert not _differences(run_with, run_without, statements)
    # Without the fence, the same statements are an oracle on tenant B's titles.
    leaks = _differences(run_with, run_without, [_unfenced(sql, "sqlite") for sql in statements])
    assert any("integer overflow" in leak for leak in leaks), leaks


def test_the_reported_sqlite_oracle_no_longer_answers() -> None:
    """The report: ``integer overflow`` only when another tenant has a row in an indexed range,
    bisected to recover a title.  Every probe now answers alike, whatever the range."""
    rewriter = Rewriter(POLICIES, "sqlite")
    run_with, run_without = _sqlite_runner(_sqlite(True)), _sqlite_runner(_sqlite(False))
    answers = []
    for bound in ("r", "s", "sec", "secret", "st", "t", "zz", "zzz"):
        probe = f"SELECT title FROM notes WHERE title > '{bound}' AND (abs(-9223372036854775807-1)+id)=0"
        sql = rewriter.rewrite(probe, MEMBER).sql
        assert run_with(sql) == run_without(sql) == ("rows", []), bound
        answers.append(run_with(_unfenced(sql, "sqlite")))
    # Unfenced, the same probes are the oracle: they fail only while B has a title past the bound.
    assert ("error", "integer overflow") in answers
    assert ("rows", []) in answers


# DuckDB -------------------------------------------------------------------------------------------


def _duckdb(theirs: bool) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(":memory:")
    conn.execute("CREATE TABLE notes (id BIGINT PRIMARY KEY, org_id TEXT, created_by TEXT, title TEXT)")
    conn.execute("CREATE INDEX notes_title ON notes (title)")
    conn.execute("CREATE TABLE tags (id BIGINT PRIMARY KEY, org_id TEXT, note_id BIGINT, label TEXT)")
    conn.executemany("INSERT INTO notes VALUES (?, ?, ?, ?)", MINE + (THEIRS if theirs else []))
    conn.executemany("INSERT INTO tags VALUES (?, ?, ?, ?)", [t for t in TAGS if theirs or t[1] == "A"])
    return conn


def test_duckdb_outcomes_do_not_depend_on_other_tenants_rows() -> None:
    with_theirs, without = _duckdb(True), _duckdb(False)

    def runner(conn: duckdb.DuckDBPyConnection) -> Run:
        def run(sql: str) -> Outcome:
            try:
                return ("rows", sorted(conn.execute(sql).fetchall(), key=repr))
            except duckdb.Error as error:
                return ("error", type(error).__name__)

        return run

    try:
        assert not _differences(runner(with_theirs), runner(without), _rewritten("duckdb"))
    finally:
        with_theirs.close()
        without.close()


# MariaDB (the mysql dialect) ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def mariadb() -> Iterator[tuple[Run, Run]]:
    """Two databases of the local MariaDB, with and without tenant B's rows."""
    names = [f"rgtest_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    admin = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", autocommit=True)
    conns = []
    try:
        for name, theirs in zip(names, (True, False), strict=True):
            with admin.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE `{name}`")
            conn = pymysql.connect(host="127.0.0.1", user="root", password="", database=name, autocommit=True)
            conns.append(conn)
            with conn.cursor() as cursor:
                cursor.execute(
                    "CREATE TABLE notes (id BIGINT PRIMARY KEY, org_id VARCHAR(8), created_by VARCHAR(16), "
                    "title VARCHAR(40), KEY (title))"
                )
                cursor.execute(
                    "CREATE TABLE tags (id BIGINT PRIMARY KEY, org_id VARCHAR(8), note_id BIGINT, "
                    "label VARCHAR(40))"
                )
                notes = MINE + (THEIRS if theirs else [])
                cursor.executemany("INSERT INTO notes VALUES (%s, %s, %s, %s)", notes)
                tags = [t for t in TAGS if theirs or t[1] == "A"]
                cursor.executemany("INSERT INTO tags VALUES (%s, %s, %s, %s)", tags)
                cursor.execute("ANALYZE TABLE notes, tags")
                cursor.fetchall()

        def runner(conn: pymysql.connections.Connection) -> Run:
            def run(sql: str) -> Outcome:
                try:
                    with conn.cursor() as cursor:
                        cursor.execute(sql)
                        return ("rows", sorted(cursor.fetchall(), key=repr))
                except pymysql.MySQLError as error:
                    return ("error", error.args[0])

            return run

        yield runner(conns[0]), runner(conns[1])
    finally:
        for conn in conns:
            conn.close()
        with admin.cursor() as cursor:
            for name in names:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def test_mysql_outcomes_do_not_depend_on_other_tenants_rows(mariadb: tuple[Run, Run]) -> None:
    run_with, run_without = mariadb
    statements = _rewritten("mysql")

    assert not _differences(run_with, run_without, statements)
    leaks = _differences(run_with, run_without, [_unfenced(sql, "mysql") for sql in statements])
    assert leaks  # a merged derived table runs the condition on B's rows


# The dialects ------------------------------------------------------------------------------------


def test_every_route_dialect_has_a_fence_and_others_are_refused() -> None:
    assert set(UPSTREAM_SQL_DIALECTS) == set(FENCES)
    for dialect in ("tsql", "bigquery", "snowflake", "clickhouse"):
        with pytest.raises(ConfigError, match=f"cannot confine SQL in the {dialect} dialect"):
            Rewriter(POLICIES, dialect)
