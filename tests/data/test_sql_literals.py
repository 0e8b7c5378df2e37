"""``POST /v1/sql`` with reads whose plain value literals are taken out as parameters
(``rls.literals``): the same rows and the same refusals as the statement as written, never another
tenant's row, and one cached template for statements differing only in those values.

The statement as written is run beside each answer the way ``/v1/sql`` ran it before: rewritten
by the server's own rewriter without normalisation, and run in a transaction of the server's
runner for the same subject."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rowgate.errors import RowgateError
from rowgate.proxy.appkeys import SERVICES
from rowgate.rls.literals import normalise
from rowgate.rls.subject import Subject
from tests.conftest import RunningServer
from tests.data import world
from tests.data.conftest import Client

pytestmark = pytest.mark.integration

CALLERS = ("user_a", "admin_a", "user_b", "admin_b")
OPERATORS = ("=", "<>", "<", ">", "<=", ">=")
TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _conditions() -> st.SearchStrategy[str]:
    op = st.sampled_from(OPERATORS)
    word = st.one_of(st.sampled_from(world.WORDS).map(lambda w: w + " 3"), st.sampled_from(world.WORDS), TEXT)
    task = st.integers(0, 30).map(world.task_id)
    user = st.sampled_from((world.ADMIN_A, world.USER_A, world.USER_A2, world.USER_B, world.ADMIN_B))
    return st.one_of(
        st.builds(lambda o, n: f"priority {o} {n}", op, st.integers(0, 6)),
        st.builds(lambda o, n: f"priority {o} {n}", op, st.sampled_from((2147483648, 10**25))),
        st.builds(lambda o, w: f"title {o} {_quoted(w)}", op, word),
        st.builds(lambda w: f"title LIKE {_quoted(w[:4] + '%')}", word),
        st.builds(lambda w: f"title ILIKE {_quoted('%' + w[-3:] + '%')}", word),
        st.builds(lambda o, n: f"estimate {o} {n / 4:.2f}", op, st.integers(0, 30)),
        st.builds(lambda o, n: f"estimate {o} {n}", op, st.integers(0, 8)),
        st.builds(lambda n: f"project_id = {n}", st.integers(0, 5)),
        st.builds(lambda t: f"id = {_quoted(t)}", task),
        st.builds(lambda o: f"org_id = {_quoted(o)}", st.sampled_from((world.ORG_A, world.ORG_B))),
        st.builds(lambda u: f"created_by <> {_quoted(u)}", user),
        # strings whose parameter would not be text: the statement as written runs
        st.builds(lambda o, d: f"due {o} '2024-02-{d:02d}'", op, st.integers(1, 12)),
        st.builds(lambda n: f"priority = '{n}'", st.integers(0, 6)),
        st.just("done = 'true'"),
        st.just("priority = 2.5"),
        st.just("id = 'not a uuid'"),
        st.just("priority = 'high'"),
    )


def _where(conditions: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.builds(
        lambda first, rest: first + "".join(f" {joiner} {condition}" for joiner, condition in rest),
        conditions,
        st.lists(st.tuples(st.sampled_from(("AND", "OR")), conditions), max_size=2),
    )


def _post_conditions() -> st.SearchStrategy[str]:
    op = st.sampled_from(OPERATORS)
    return st.one_of(
        st.builds(lambda o, n: f"title {o} 'post {n}'", op, st.integers(0, 9)),
        st.builds(lambda s: f"status = {_quoted(s)}", st.sampled_from(("draft", "published", "other"))),
        st.builds(lambda o: f"org_id = {_quoted(o)}", st.sampled_from((world.ORG_A, world.ORG_B))),
        st.builds(lambda i: f"id <> {_quoted(world.post_id(i))}", st.integers(0, 9)),
    )


#: ``(table, statement)``: reads of each table, a join, a CTE and a subquery, with literals.
STATEMENTS = st.one_of(
    _where(_conditions()).map(lambda w: ("tasks", f"SELECT id FROM tasks WHERE {w} ORDER BY id")),
    _where(_conditions()).map(
        lambda w: (
            "tasks",
            f"WITH picked AS (SELECT * FROM tasks WHERE {w}) SELECT id FROM picked ORDER BY id",
        )
    ),
    st.builds(
        lambda w, name: (
            "tasks",
            "SELECT tasks.id FROM tasks JOIN projects p ON p.id = tasks.project_id "
            f"WHERE p.name = {_quoted(name)} AND ({w}) ORDER BY tasks.id",
        ),
        _where(_conditions()),
        st.sampled_from(("alpha", "beta", "gamma", "nope")),
    ),
    st.builds(
        lambda w, n: (
            "tasks",
            f"SELECT id FROM tasks WHERE {w} AND project_id IN "
            f"(SELECT id FROM projects WHERE id >= {n}) ORDER BY id",
        ),
        _where(_conditions()),
        st.integers(0, 4),
    ),
    _where(_post_conditions()).map(lambda w: ("posts", f"SELECT id FROM posts WHERE {w} ORDER BY id")),
    st.builds(
        lambda o, n, name: (
            "projects",
            f"SELECT id FROM projects WHERE id {o} {n} OR name = {_quoted(name)} ORDER BY id",
        ),
        st.sampled_from(OPERATORS),
        st.integers(0, 5),
        st.sampled_from(("alpha", "gamma", "x")),
    ),
)
VISIBLE = {"tasks": world.visible_tasks, "posts": world.visible_posts, "projects": world.visible_projects}


async def _answer(client: Client, caller: str, sql: str) -> tuple[str, Any]:
    status, body = await client.call("POST", "/v1/sql", caller, json={"sql": sql})
    assert status < 500, body
    if status != 200:
        return "error", body["code"]
    return "rows", [row["id"] for row in body["rows"]]


async def _as_written(server: RunningServer, caller: str, sql: str) -> tuple[str, Any]:
    """What ``/v1/sql`` answered before: the statement rewritten as it is, and run."""
    who = world.CALLERS[caller]
    subject = Subject(who.user_id, who.org_id, who.groups, who.role)
    api = server.app[SERVICES].data
    try:
        rewritten = api.policy.rewriter.rewrite(sql, subject, 0)
        readonly = rewritten.kind == "select"
        async with api.runner.transaction(subject, run_as=api.policy.runs_as(), readonly=readonly) as session:
            result = await session.run(rewritten, [], json_params=True, max_rows=api.settings.max_rows)
    except RowgateError as error:
        return "error", error.code
    return "rows", [row["id"] for row in result.rows]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(statement=STATEMENTS)
async def test_normalised_reads_answer_as_the_statements_as_written(
    client: Client, server: RunningServer, statement: tuple[str, str]
) -> None:
    table, sql = statement
    assert normalise(sql, 0) is not None
    for caller in CALLERS:
        ours = await _answer(client, caller, sql)
        assert ours == await _as_written(server, caller, sql), (caller, sql)
        if ours[0] == "rows":
            visible = {row["id"] for row in VISIBLE[table](world.CALLERS[caller])}
            assert set(ours[1]) <= visible, (caller, sql)


async def test_reads_differing_only_in_values_share_one_template(
    client: Client, server: RunningServer
) -> None:
    cache = server.app[SERVICES].data.policy.rewriter._cache
    before = len(cache)
    for i in (1, 2, 4):
        status, body = await client.call(
            "POST",
            "/v1/sql",
            "user_a",
            json={"sql": f"SELECT id FROM tasks WHERE id = '{world.task_id(i)}' AND priority >= {i % 3}"},
        )
        assert status == 200, body
        assert [row["id"] for row in body["rows"]] == [world.task_id(i)]
    assert len(cache) == before + 1


async def test_a_positional_order_by_or_a_limit_is_a_template_of_its_own(
    client: Client, server: RunningServer
) -> None:
    cache = server.app[SERVICES].data.policy.rewriter._cache
    before = len(cache)
    answers = []
    for order, limit in ((1, 5), (2, 5), (2, 6)):
        sql = f"SELECT title, priority FROM tasks WHERE priority < 4 ORDER BY {order}, 1 LIMIT {limit}"
        status, body = await client.call("POST", "/v1/sql", "admin_a", json={"sql": sql})
        assert status == 200, body
        answers.append(body["rows"])
    assert len(cache) == before + 3
    rows = [r for r in world.visible_tasks(world.CALLERS["admin_a"]) if r["priority"] < 4]
    by_title = sorted(rows, key=lambda r: (r["title"], r["priority"]))
    by_priority = sorted(rows, key=lambda r: (r["priority"], r["title"]))
    assert [r["title"] for r in answers[0]] == [r["title"] for r in by_title[:5]]
    assert [r["title"] for r in answers[1]] == [r["title"] for r in by_priority[:5]]
    assert [r["title"] for r in answers[2]] == [r["title"] for r in by_priority[:6]]


async def test_a_string_compared_with_a_date_runs_as_written(client: Client, server: RunningServer) -> None:
    sql = "SELECT id FROM tasks WHERE due = '2024-02-08' ORDER BY id"
    assert await _answer(client, "admin_a", sql) == await _as_written(server, "admin_a", sql)
    assert await _answer(client, "admin_a", sql.replace("'2024-02-08'", "'Feb 8 2024'")) == await _as_written(
        server, "admin_a", sql
    )


HOSTILE = [
    "SELECT id FROM tasks WHERE title = 'x'' OR ''1''=''1'",
    "SELECT id FROM tasks WHERE title = 'x' OR org_id = '" + world.ORG_B + "'",
    "SELECT id FROM tasks WHERE title = 'x'; DELETE FROM tasks",
    "SELECT id FROM tasks WHERE title = 'x",
    "SELECT id FROM tasks WHERE title = $$x",
    "SELECT id FROM tasks WHERE title = $a$ $b$ x $b$ $a$",
    "SELECT id FROM tasks WHERE title = $a$ $b$ x $a$ $b$",
    "SELECT id FROM tasks WHERE title = /* it's */ 'x' -- and 'y",
    "SELECT id FROM tasks WHERE title = 'x' /* unterminated",
    "SELECT id FROM tasks WHERE priority = " + "9" * 400,
    "SELECT id FROM tasks WHERE priority = " + "9" * 2000,
    "SELECT id FROM tasks WHERE estimate = 1" + "0" * 200 + ".5",
    "SELECT id FROM tasks WHERE title = 'tasks'::regclass",
    "SELECT id FROM tasks WHERE title = $1",
    "SELECT id FROM tasks WHERE title = $2 AND priority = 1",
    "SELECT id FROM unlisted WHERE id = 1",
    "SELECT secret FROM unlisted WHERE id = 1",
    "SELECT id FROM tasks WHERE internal_notes = 'secret 3'",
    "SELECT id FROM tasks WHERE title = 'x' UNION SELECT id FROM unlisted WHERE secret = 'y'",
    "SELECT set_config('rowgate.org_id', '" + world.ORG_B + "', true) = 'x'",
    "SELECT id FROM tasks WHERE title = current_setting('rowgate.org_id') AND priority = 1",
    "SELECT id FROM tasks WHERE title = '\\' OR 1=1 --'",
    "SELECT id FROM tasks WHERE title = E'\\' OR 1=1 --'",
    "SELECT id FROM tasks WHERE title = 'x'\n'y'",
    "SELECT id FROM tasks WHERE title = '" + "x" * 50_000 + "'",
    # PostgreSQL refuses the normalised statement too (tried in a savepoint, then as written)
    "SELECT id FROM tasks WHERE title = 5",
    "SELECT id FROM tasks WHERE title = 5 AND priority = 1",
    "SELECT id FROM tasks WHERE meta = 'x'",
    "SELECT id FROM tasks WHERE nothing = 'x'",
]


@pytest.mark.parametrize("sql", HOSTILE)
async def test_hostile_reads_answer_as_before(client: Client, server: RunningServer, sql: str) -> None:
    for caller in ("user_a", "user_b", "user_a"):
        ours = await _answer(client, caller, sql)
        assert ours == await _as_written(server, caller, sql), (caller, sql)
        if ours[0] == "rows":
            visible = {row["id"] for row in world.visible_tasks(world.CALLERS[caller])}
            assert set(ours[1]) <= visible


async def test_literals_are_numbered_after_the_callers_parameters(
    client: Client, server: RunningServer
) -> None:
    cache = server.app[SERVICES].data.policy.rewriter._cache
    before = len(cache)
    for title in ("docs 3", "billing 1"):
        where = f"priority >= $1 AND title <> '{title}' AND created_by = $2"
        sql = f"SELECT id FROM tasks WHERE {where} ORDER BY id"
        status, body = await client.call(
            "POST", "/v1/sql", "admin_a", json={"sql": sql, "params": [1, world.USER_A]}
        )
        assert status == 200, body
        expected = sorted(
            r["id"]
            for r in world.visible_tasks(world.CALLERS["admin_a"])
            if r["priority"] >= 1 and r["title"] != title and r["created_by"] == world.USER_A
        )
        assert [row["id"] for row in body["rows"]] == expected
    assert len(cache) == before + 1
    status, body = await client.call(
        "POST",
        "/v1/sql",
        "admin_a",
        json={"sql": "SELECT id FROM tasks WHERE priority = $1 AND title = 'x'", "params": ["high"]},
    )
    assert (status, body["code"], body["errors"][0]["field"]) == (422, "invalid_parameter", "params[0]")
