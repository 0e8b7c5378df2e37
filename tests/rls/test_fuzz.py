"""The rewriter on random and mutated SQL: it answers with a rewritten statement or a policy
refusal, nothing else, never hangs, and whatever it lets through has every table read filtered
(checked here independently, on the re-parsed output text)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from rowgate.rls.errors import QueryRefused, WriteRefused
from rowgate.rls.names import dialect_of
from rowgate.rls.rewrite import Rewriter
from rowgate.rls.subject import Subject
from tests.rls import world
from tests.rls.strategies import any_sql, mutated_sql, subjects

WATCHDOG_SECONDS = 30  # far beyond any rewrite: only a hang trips it


@contextlib.contextmanager
def watchdog() -> Iterator[None]:
    """Fail the example if the rewrite does not return (a hang, not a slow run)."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise AssertionError(f"the rewriter did not return within {WATCHDOG_SECONDS}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(WATCHDOG_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _fresh(rewriter: Rewriter) -> Rewriter:
    return Rewriter(rewriter.policies, "postgres", schema=rewriter.schema, cache_size=0)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sql=any_sql(), subject=subjects(), params=st.integers(0, 3))
def test_the_rewriter_only_ever_rewrites_or_refuses(
    rewriter: Rewriter, sql: str, subject: Subject, params: int
) -> None:
    with watchdog():
        try:
            rewritten = _fresh(rewriter).rewrite(sql, subject, params)
        except (QueryRefused, WriteRefused):
            return
    assert_every_read_filtered(rewritten.sql)


@settings(max_examples=200, deadline=None)
@given(sql=mutated_sql(), subject=subjects())
def test_cached_and_uncached_answers_agree(rewriter: Rewriter, sql: str, subject: Subject) -> None:
    cached = Rewriter(rewriter.policies, "postgres", schema=rewriter.schema)
    answers = []
    for _ in range(2):
        try:
            answers.append(cached.rewrite(sql, subject).sql)
        except (QueryRefused, WriteRefused) as error:
            answers.append(f"{type(error).__name__}:{error.code}:{error.detail}")
    assert answers[0] == answers[1]


def assert_every_read_filtered(sql: str, dialect: str = "postgres") -> None:
    """Parse the output and check that every table is a renamed CTE, a table function, the
    write target, or the only table of a SELECT filtered on that table (on PostgreSQL: named
    with its schema and ending in OFFSET 0)."""
    (statement,) = dialect_of(dialect).parse(sql)
    assert statement is not None
    postgres = dialect == "postgres"
    target = statement.this.this if isinstance(statement.this, exp.Schema) else statement.this
    for table in statement.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier) or table.name.startswith("rowgate_cte_"):
            continue
        if table is target and isinstance(statement, exp.Insert | exp.Update | exp.Delete):
            assert isinstance(statement, exp.Insert) or statement.args.get("where") is not None, sql
            continue
        select = table.parent.parent if isinstance(table.parent, exp.From) else None
        assert isinstance(select, exp.Select), f"unfiltered table {table.sql()} in {sql}"
        assert table.db == ("public" if postgres else ""), sql
        assert not select.args.get("joins"), sql
        assert not postgres or select.args["offset"].expression.this == "0", sql
        assert _filters(select.args["where"].this, table.name), sql


def _filters(condition: exp.Expr, table: str) -> bool:
    """Whether the first conjunct of ``condition`` is a filter on ``table`` (or a constant)."""
    while isinstance(condition, exp.And | exp.Paren):
        condition = condition.this
    if isinstance(condition, exp.Boolean):
        return True
    columns = list(condition.find_all(exp.Column))
    return bool(columns) and all(c.table == table for c in columns)


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("SELECT * FROM " + "(" * 30000 + "tasks" + ")" * 30000, "too_complex"),  # crashes sqlglot's parser
        ("SELECT * FROM " + "(" * 101 + "tasks" + ")" * 101, "too_complex"),
        ("SELECT " + "NOT " * 5000 + "true", "too_complex"),
        ("SELECT " + "CASE WHEN true THEN " * 3000 + "1" + " END" * 3000, "too_complex"),
    ],
    ids=["30,000 parentheses", "101 parentheses", "5,000 NOTs", "3,000 nested CASEs"],
)
def test_deep_nesting_is_refused_without_crashing(sql: str, code: str) -> None:
    # In a child process, so that a crash of the interpreter fails this test, not the run.
    program = (
        "import sys\n"
        "from rowgate.rls.rewrite import Rewriter\n"
        "from rowgate.rls.errors import QueryRefused\n"
        "from tests.rls import world\n"
        "rewriter = Rewriter(world.world_policies(), schema=world.world_schema())\n"
        "try:\n"
        "    rewriter.rewrite(sys.stdin.read(), world.SUBJECTS['user_a'])\n"
        "except QueryRefused as error:\n"
        "    print(error.code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        input=sql,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).parents[2],
    )

    assert (done.returncode, done.stdout.strip()) == (0, code), done.stderr[-500:]


def test_a_long_flat_condition_is_fine(rewriter: Rewriter) -> None:
    sql = "SELECT id FROM tasks WHERE " + " AND ".join(f"id <> {i}" for i in range(3000))

    rewritten = rewriter.rewrite(sql, world.SUBJECTS["user_a"])

    assert rewritten.sql.count("<>") == 3000
