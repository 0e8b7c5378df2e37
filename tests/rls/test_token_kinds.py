"""The next escape like issue 10's: statements built from the token kinds parsers treat
differently (``tests.rls.strategies.token_statement``: every string and quoting form of the
dialect, comments, semicolons, casts, names in every position) must be refused, or rewritten into
text that confines the caller.

On PostgreSQL the property is checked against the database itself.  The rewritten text, run by
the tables' owner (whom no policy touches), must do exactly what the caller's statement does under
the native policies of ``rls.export`` run as a role that owns nothing and may not read rowgate's
schema, as in the differential test, or, where PostgreSQL reads the caller's odd text otherwise
than sqlglot (or rejects it), exactly what rowgate's own text does under those policies (the
second wall as the oracle: if rowgate's filters hold, the native ones change nothing).  A leak
disagrees with both.  A member must never see a hidden column's value either.

Other dialects: the output must parse back with every table read filtered, and on SQLite it must
answer the same on the whole database as on a copy holding only the rows the caller may see, and
never write a row of another tenant.

The example count is bounded for CI (``RLS_TOKEN_EXAMPLES``: 1,000 on PostgreSQL by default, half as
many in each other dialect); release checks run more (see the README).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
import sqlglot
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rowgate.rls.errors import QueryRefused, WriteRefused
from rowgate.rls.export import export_postgres
from rowgate.rls.policy import PolicySet
from rowgate.rls.rewrite import Rewriter
from rowgate.rls.subject import Subject
from tests.databases import new_database
from tests.rls import test_fuzz, world
from tests.rls.conftest import World, _close_world, _open_world
from tests.rls.outcomes import Outcome, execute
from tests.rls.strategies import token_statement

EXAMPLES = int(os.environ.get("RLS_TOKEN_EXAMPLES", "1000"))
SUBJECTS = ("user_a", "user_b", "admin_a", "guest")
#: The subjects that may not see ``tasks.internal_notes`` (whose values all start "secret").
HIDDEN = {"user_a", "user_b", "guest"}

T = TypeVar("T")


@dataclass
class Postgres:
    loop: asyncio.AbstractEventLoop
    world: World

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(work)


@pytest.fixture(scope="module")
def postgres(policies: PolicySet, world_template: str) -> Iterator[Postgres]:
    """The test world with its native policies, driven from synchronous hypothesis tests."""
    loop = asyncio.new_event_loop()
    opened = _world_with_native_policies(policies, world_template)
    try:
        yield Postgres(loop, loop.run_until_complete(anext(opened)))
    finally:
        loop.run_until_complete(opened.aclose())
        loop.close()


async def _world_with_native_policies(policies: PolicySet, template: str) -> AsyncIterator[World]:
    async with new_database(template) as url:
        built = await _open_world(url)
        try:
            await built.conn.execute(
                export_postgres(policies, world.world_schema(), role=built.role, defaults=True)
            )
            yield built
        finally:
            await _close_world(built)


def _rewrite(rewriter: Rewriter, sql: str, subject: Subject) -> Any:
    """The rewritten statement, or ``None`` when refused (never an unexpected failure)."""
    try:
        return rewriter.rewrite(sql, subject)
    except (QueryRefused, WriteRefused) as error:
        code = error.code
    event(f"refused: {code}")
    assert code != "rewrite_failed", f"{sql!r}: rowgate failed instead of refusing"
    return None


@pytest.mark.slow
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sql=token_statement("postgres"), name=st.sampled_from(SUBJECTS))
def test_postgresql_runs_only_what_native_row_security_allows(
    postgres: Postgres, policies: PolicySet, sql: str, name: str
) -> None:
    subject = world.SUBJECTS[name]
    rewriter = Rewriter(policies, "postgres", schema=world.world_schema(), cache_size=0)
    rewritten = _rewrite(rewriter, sql, subject)
    if rewritten is None:
        return
    test_fuzz.assert_every_read_filtered(rewritten.sql)
    event("rewritten and run")
    conn, role = postgres.world.conn, postgres.world.role
    ours = postgres.run(execute(conn, rewritten.sql, rewritten.params, subject, None, rewritten.discard_rows))
    if name in HIDDEN and ours[0] == "ok":
        assert "secret" not in repr(ours[1]), f"a hidden value returned: {sql!r} as {name}"
    # What the caller's statement does under native row security, or (where PostgreSQL reads the
    # caller's text otherwise than sqlglot, or rejects it) what rowgate's text does under it.
    # Either agreeing is enough; a leak disagrees with both.
    if ours == postgres.run(execute(conn, sql, (), subject, role)):
        return
    event("agrees with native row security on rowgate's text only")
    native = postgres.run(
        execute(conn, rewritten.sql, rewritten.params, subject, role, rewritten.discard_rows)
    )
    assert ours == native, f"{sql!r} as {name} ran as {rewritten.sql!r}"


@pytest.mark.parametrize("dialect", ["sqlite", "mysql", "duckdb"])
@settings(max_examples=EXAMPLES // 2, deadline=None)
@given(data=st.data(), name=st.sampled_from(SUBJECTS))
def test_other_dialects_refuse_or_confine(
    policies: PolicySet, dialect: str, data: st.DataObject, name: str
) -> None:
    sql = data.draw(token_statement(dialect), label="sql")
    subject = world.SUBJECTS[name]
    rewriter = Rewriter(policies, dialect, schema=world.world_schema(), cache_size=0)
    rewritten = _rewrite(rewriter, sql, subject)
    if rewritten is None:
        return
    test_fuzz.assert_every_read_filtered(rewritten.sql, dialect)
    event("rewritten")
    if dialect == "sqlite":
        _assert_confined_on_sqlite(policies, rewritten.sql, subject, sql)


# SQLite: the whole world against the caller's part of it --------------------------------------


def _assert_confined_on_sqlite(policies: PolicySet, text: str, subject: Subject, sql: str) -> None:
    whole, mine = _sqlite(policies, None), _sqlite(policies, subject)
    try:
        if text.lstrip().upper().startswith(("SELECT", "WITH")):
            assert _answer(whole, text) == _answer(mine, text), f"{sql!r} ran as {text!r}"
            return
        theirs = _other_tenants_rows(whole, subject)
        _answer(whole, text)
        assert _other_tenants_rows(whole, subject) == theirs, (
            f"a write reached another tenant: {sql!r} ran as {text!r}"
        )
    finally:
        whole.close()
        mine.close()


def _answer(conn: sqlite3.Connection, text: str) -> Outcome:
    try:
        return ("ok", sorted(map(repr, conn.execute(text).fetchall())))
    except sqlite3.Error as error:
        return ("error", type(error).__name__)


#: rowgate's own tables, as an attacker aims at them (attached as the database "rowgate").
_ROWGATE = {
    "rowgate.users": ("id", "email", "password_hash"),
    "rowgate.memberships": ("user_id", "org_id", "role"),
}


def _sqlite(policies: PolicySet, subject: Subject | None) -> sqlite3.Connection:
    """The world in SQLite: all of it, or (for ``subject``) only the rows and columns it may see."""
    conn = sqlite3.connect(":memory:")
    conn.execute("ATTACH DATABASE ':memory:' AS rowgate")
    rows = world.seed_rows()
    for table, columns in (*world.SCHEMA.items(), *_ROWGATE.items()):
        name = table.removeprefix("public.")
        defaults = world.DEFAULTS.get(table, {})
        conn.execute(f"CREATE TABLE {name} ({', '.join(_column(c, defaults.get(c)) for c in columns)})")
        if subject is None:
            kept = rows[name]
        elif name in world.TABLES:
            kept = _visible(policies, subject, name)
        else:
            kept = []
        conn.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' for _ in columns)})", kept)
    return conn


def _column(name: str, default: str | None) -> str:
    if default is None:
        return name
    return f"{name} DEFAULT ({sqlglot.transpile(default, read='postgres', write='sqlite')[0]})"


def _visible(policies: PolicySet, subject: Subject, table: str) -> list[tuple[Any, ...]]:
    """The rows of ``table`` ``subject`` may read (hidden columns empty), picked by rowgate's own
    filter (verified against native row security by the differential test) on the whole world."""
    columns = tuple(world.SCHEMA[f"public.{table}"])
    whole = _sqlite(policies, None)
    try:
        rewriter = Rewriter(policies, "sqlite", schema=world.world_schema())
        try:
            cursor = whole.execute(rewriter.rewrite(f"SELECT * FROM {table}", subject).sql)
        except QueryRefused:
            return []
        names = [d[0] for d in cursor.description]
        return [tuple(dict(zip(names, row, strict=True)).get(c) for c in columns) for row in cursor]
    finally:
        whole.close()


def _other_tenants_rows(conn: sqlite3.Connection, subject: Subject) -> set[str]:
    """Every row of another tenant, as text (which of its own tenant's rows a write may touch
    is the differential test's to check, against PostgreSQL)."""
    rows = set()
    for table in ("projects", "tasks", "notes"):
        for row in conn.execute(f"SELECT * FROM {table} WHERE org_id IS NOT ?", (subject.tenant_id,)):
            rows.add(f"{table}: {row!r}")
    return rows
