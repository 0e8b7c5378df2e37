"""The text that runs is the tree that was checked (``rls.roundtrip``, ``rls.rules.check_names``):
names from string tokens are refused, every name is printed quoted as the database resolves it,
and the printed text is parsed again and compared with the verified tree."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

import rowgate.rls.rewrite
from rowgate.proxy.data.execute import run
from rowgate.rls.context import Inputs, Rule
from rowgate.rls.errors import QueryRefused
from rowgate.rls.findings import Findings
from rowgate.rls.names import dialect_of
from rowgate.rls.policy import PolicySet, parse_policies
from rowgate.rls.rewrite import Rewriter
from rowgate.rls.roundtrip import fingerprint, first_difference
from rowgate.rls.rules import RULES
from rowgate.rls.subject import Subject
from rowgate.rls.template import split_sentinels
from tests.rls import world
from tests.rls.conftest import World

USER_A = world.SUBJECTS["user_a"]

#: The escape of issue 10 in every string form of each dialect, after AS and as a table alias.
STRING_NAMES = [
    ("postgres", "SELECT 1 AS $$x, org_id, title, internal_notes FROM public.tasks --$$"),
    ("postgres", "SELECT 1 AS $q$x, org_id, internal_notes FROM tasks --$q$"),
    ("postgres", "SELECT 1 AS E'x, org_id, internal_notes FROM tasks --'"),
    ("postgres", "SELECT 1 AS N'x, org_id, internal_notes FROM tasks --'"),
    ("postgres", "SELECT 1 AS U&'x, org_id, internal_notes FROM tasks --'"),
    ("postgres", "SELECT 1 AS 'x'"),
    ("postgres", "SELECT id FROM tasks AS $$t, rowgate.users --$$"),
    ("postgres", "SELECT id, count(*) OVER w FROM tasks WINDOW $$w$$ AS (ORDER BY id)"),
    ("postgres", "SELECT * FROM generate_series(1, 2) AS g($$n, internal_notes$$)"),
    ("sqlite", "SELECT 1 AS 'x, org_id, internal_notes FROM tasks --'"),
    ("sqlite", "SELECT id FROM tasks AS 't, payroll --'"),
    ("mysql", "SELECT 1 AS 'x, org_id, internal_notes FROM tasks --'"),
    ("mysql", 'SELECT 1 AS "x, org_id, internal_notes FROM tasks --"'),
    ("duckdb", "SELECT 1 AS $$x, org_id, internal_notes FROM tasks --$$"),
    ("duckdb", "SELECT 1 AS E'x, org_id, internal_notes FROM tasks --'"),
]


@pytest.mark.parametrize(("dialect", "sql"), STRING_NAMES)
def test_a_string_is_never_a_name(policies: PolicySet, dialect: str, sql: str) -> None:
    rewriter = Rewriter(policies, dialect, schema=world.world_schema())

    with pytest.raises(QueryRefused) as caught:
        rewriter.rewrite(sql, USER_A)

    assert caught.value.code == "bad_identifier"
    assert "a name is written as a string" in caught.value.detail


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        ("postgres", 'SELECT "title" AS "label" FROM'),  # folded as PostgreSQL folds unquoted names
        ("sqlite", "SELECT `Title` AS `Label` FROM"),  # SQLite ignores case; backticks are always names
        ("mysql", "SELECT `Title` AS `Label` FROM"),
        ("duckdb", 'SELECT "Title" AS "Label" FROM'),  # DuckDB ignores case, even quoted
    ],
)
def test_every_name_is_printed_quoted_as_the_database_resolves_it(
    policies: PolicySet, dialect: str, expected: str
) -> None:
    rewriter = Rewriter(policies, dialect, schema=world.world_schema())

    sql = rewriter.rewrite("SELECT Title AS Label FROM tasks", USER_A).sql

    assert sql.startswith(expected)


@pytest.mark.integration
async def test_a_folded_name_still_reads_the_table_on_postgresql(built: World, rewriter: Rewriter) -> None:
    rewritten = rewriter.rewrite('SELECT Title, "title" FROM Tasks ORDER BY ID', USER_A)

    async with built.conn.transaction():
        rows = (await run(built.conn, rewritten, USER_A)).rows

    assert rows
    assert all(row[0] == row[1] for row in rows)


def test_a_tree_the_printer_writes_ambiguously_is_refused_and_logged(
    policies: PolicySet, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def unparenthesised(expression: exp.Expr, inputs: Inputs, found: Findings) -> exp.Expr:
        # (1 + 2) * 3 built without its parentheses prints as 1 + 2 * 3, which reads back as 7
        assert isinstance(expression, exp.Select)
        sum_ = exp.Add(this=exp.Literal.number(1), expression=exp.Literal.number(2))
        expression.select(exp.Mul(this=sum_, expression=exp.Literal.number(3)), copy=False)
        return expression

    monkeypatch.setattr(rowgate.rls.rewrite, "RULES", (*RULES, Rule(unparenthesised)))
    rewriter = Rewriter(policies, schema=world.world_schema())

    with (
        caplog.at_level(logging.ERROR, logger="rowgate.rls.roundtrip"),
        pytest.raises(QueryRefused) as caught,
    ):
        rewriter.rewrite("SELECT id FROM tasks", USER_A)

    assert caught.value.code == "unverified"
    assert "SELECT" not in caught.value.detail  # the client never sees SQL
    (record,) = caplog.records
    assert "SELECT id FROM tasks" in record.getMessage()
    assert "1 + 2 * 3" in record.getMessage()


def test_text_that_sqlglot_prints_bare_and_would_not_read_back_is_refused(rewriter: Rewriter) -> None:
    # sqlglot keeps a string used as an argument name as a bare word and prints it verbatim
    with pytest.raises(QueryRefused) as caught:
        rewriter.rewrite("SELECT make_interval($$days, (SELECT 1)$$ => 1)", USER_A)

    assert caught.value.code == "unverified"


def _tree(sql: str, dialect: str = "postgres") -> exp.Expr:
    (tree,) = dialect_of(dialect).parse(sql)
    assert tree is not None
    return tree


@pytest.mark.parametrize(
    ("checked", "printed"),
    [
        ("SELECT a FROM t", 'SELECT "a" FROM "t"'),  # a folded name comes back quoted
        ('SELECT "a" FROM t', "SELECT a FROM t"),  # or unquoted: the same name either way
        ("SELECT $$it's$$", "SELECT 'it''s'"),  # a dollar-quoted string as a plain literal
        ("SELECT my_function(1)", "SELECT MY_FUNCTION(1)"),  # an unknown function upper-cased
    ],
)
def test_what_printing_may_change(checked: str, printed: str) -> None:
    assert first_difference(_tree(checked), _tree(printed), dialect_of("postgres")) is None


@pytest.mark.parametrize(
    ("checked", "printed", "difference"),
    [
        ("SELECT Abc FROM t", 'SELECT "Abc" FROM "t"', "<name>, 'Abc'"),  # not folded: another name
        ('SELECT "A" FROM t', "SELECT A FROM t", "<name>, 'a'"),  # quotes lost: folded
        ("SELECT a FROM t", "SELECT b FROM t", "<name>, 'b'"),
        ("SELECT 1 + 2 * 3", "SELECT (1 + 2) * 3", "Mul"),
        ("SELECT a FROM t", "SELECT a FROM t WHERE true", "'where'"),
        ("SELECT a, b FROM t", "SELECT a FROM t", "'expressions', <list>, 1"),
        ("SELECT 'a'", "SELECT 'A'", "'A'"),
        ("SELECT EXTRACT(epoch FROM x)", "SELECT EXTRACT(dow FROM x)", "'DOW'"),
    ],
)
def test_what_printing_may_not_change(checked: str, printed: str, difference: str) -> None:
    found = first_difference(_tree(checked), _tree(printed), dialect_of("postgres"))

    assert found is not None
    assert difference in found.split("read back")[1]


def test_raw_text_must_be_plain_even_when_it_reads_back_alike() -> None:
    # a keyword held as text that carries a quote or a dollar: no database may read it otherwise
    checked = _tree("SELECT EXTRACT(epoch FROM x)")
    printed = _tree("SELECT EXTRACT(epoch FROM x)")
    for tree in (checked, printed):
        var = tree.find(exp.Var)
        assert var is not None
        var.set("this", "ep$$och")

    assert first_difference(checked, printed, dialect_of("postgres")) is not None


LITERAL_DIALECTS = ("sqlite", "mysql", "duckdb", "bigquery", "spark", "trino", "clickhouse", "postgres")


@settings(max_examples=200, deadline=None)
@given(dialect=st.sampled_from(LITERAL_DIALECTS), value=st.text(st.characters(min_codepoint=32), max_size=40))
def test_a_quoted_value_is_one_string_token_holding_exactly_the_value(dialect: str, value: str) -> None:
    # Why filling a verified template's sentinels with values cannot change the statement: each
    # value is written as a single string token that reads back as the value itself.
    quoted = exp.Literal.string(value).sql(dialect_of(dialect))

    tokens = dialect_of(dialect).tokenize(quoted)

    assert len(tokens) == 1
    assert tokens[0].token_type.name == "STRING"
    assert tokens[0].text == value


def test_sentinels_are_placed_in_the_order_they_appear(policies: PolicySet) -> None:
    # the filters of a set operation are made in another order than they are printed
    rewriter = Rewriter(policies, "sqlite", schema=world.world_schema())
    sql = "SELECT id FROM notes UNION SELECT id FROM tasks EXCEPT SELECT created_by FROM notes"

    text = rewriter.rewrite(sql, USER_A).sql

    tree = _tree(text, "sqlite")
    compared = [(eq.this.name, eq.expression.this) for eq in tree.find_all(exp.EQ)]
    expected = {"org_id": world.ORG_A, "created_by": world.USER_A}
    assert compared
    assert all(value == expected[column] for column, value in compared)


def test_a_sentinel_missing_or_repeated_is_refused() -> None:
    dialect = dialect_of("sqlite")
    nonce = "rowgatevalue0123456789abcdefx"
    once = f"SELECT '{nonce}0', '{nonce}1'"

    assert split_sentinels(once, nonce, dialect, ["tenant", "user"])[1] == ("tenant", "user")
    for text in (f"SELECT '{nonce}0'", f"SELECT '{nonce}0', '{nonce}0', '{nonce}1'"):
        with pytest.raises(QueryRefused):
            split_sentinels(text, nonce, dialect, ["tenant", "user"])


@pytest.mark.parametrize(
    ("cast", "allowed"),
    [
        ("'open'::ticket_state", True),  # an enum a served column has
        ("'open'::public.ticket_state", True),
        ("'open'::other.ticket_state", False),  # the same name in another schema
        ("'a b'::tsvector", True),  # built in, unknown to sqlglot
        ("'x'::citext", False),  # no served column has it
        ("NULL::tickets", False),  # the table's row type
        ("ROW(1, 'x')::record", False),
        ("1::int", True),
        ("'{1}'::ticket_state[]", True),
    ],
)
def test_a_cast_may_name_built_in_types_and_the_served_columns_types(cast: str, allowed: bool) -> None:
    policies = parse_policies(
        {"defaults": {"tenant_column": "org_id"}, "tables": {"tickets": {"select": ["user"]}}}
    )
    schema = {"public.tickets": {"id": "bigint", "org_id": "bigint", "state": "ticket_state"}}
    rewriter = Rewriter(policies, "postgres", schema=schema)
    subject = Subject("u1", "42", frozenset({"user"}))

    statement = f"SELECT {cast} AS x FROM tickets"

    if allowed:
        rewriter.rewrite(statement, subject)
    else:
        with pytest.raises(QueryRefused) as caught:
            rewriter.rewrite(statement, subject)
        assert caught.value.code == "type_not_allowed"


def test_the_tree_read_back_is_unlinked_once_compared(monkeypatch: pytest.MonkeyPatch) -> None:
    """The read-back's tree is thrown away after the comparison: its nodes are unlinked from their
    parents as they are fingerprinted, so that reference counting frees it at once instead of the
    garbage collector (sqlglot's nodes and their parents are reference cycles)."""
    rewriter = Rewriter(world.world_policies(), "postgres", schema=world.world_schema(), cache_size=0)
    read_back: list[exp.Expr] = []
    parse = rewriter._reparse

    def recorded(text: str) -> list[exp.Expr | None]:
        trees = parse(text)
        read_back.extend(tree for tree in trees if tree is not None)
        return trees

    monkeypatch.setattr(rewriter, "_reparse", recorded)
    sql = "WITH r AS (SELECT id FROM tasks WHERE done) SELECT r.id FROM r JOIN projects p ON p.id = r.id"

    rewriter.rewrite(sql, USER_A)

    (tree,) = read_back
    nodes = list(tree.walk())
    assert len(nodes) > 50
    assert all(node.parent is None for node in nodes)


def test_a_fingerprint_is_the_same_whether_or_not_it_unlinks_the_tree() -> None:
    pg = dialect_of("postgres")
    for sql in (
        'SELECT a, "B" FROM t AS x JOIN u ON x.id = u.id WHERE a > 1 OR b IN (1, 2)',
        "SELECT $$x$$, f(1)",
    ):
        kept = fingerprint(_tree(sql), pg, printed=True)
        tree = _tree(sql)
        assert fingerprint(tree, pg, printed=True, release=True) == kept
        assert all(node.parent is None for node in tree.walk())


_NAMES = st.sampled_from(["a", "b", "this", "table", "quoted", "expression", "A", "x y", "", "name"])
_STATEMENTS = st.builds(
    lambda column, table, alias, other, quoted: (
        f"SELECT {column}, {other} FROM {table} AS {alias} WHERE {other} = 'this'"
        if quoted
        else f"SELECT {column} FROM {table} AS {alias}"
    ),
    _NAMES.map(lambda n: f'"{n}"' if n else "a"),
    _NAMES.map(lambda n: f'"{n}"' if n else "t"),
    _NAMES.map(lambda n: f'"{n}"' if n else "x"),
    _NAMES.map(lambda n: f'"{n}"' if n else "b"),
    st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(first=_STATEMENTS, second=_STATEMENTS)
def test_fingerprints_are_equal_exactly_when_the_statements_are(first: str, second: str) -> None:
    """A name is fingerprinted as a mark followed by its text: names spelt like argument keys or
    like each other's text never make two different statements compare equal."""
    pg = dialect_of("postgres")
    same = pg.generate(_tree(first), identify=True) == pg.generate(_tree(second), identify=True)

    assert (fingerprint(_tree(first), pg) == fingerprint(_tree(second), pg, printed=True)) == same
    assert (first_difference(_tree(first), _tree(second), pg) is None) == same
