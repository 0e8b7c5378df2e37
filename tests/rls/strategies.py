"""Hypothesis strategies shared by the rls tests."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st

from rowgate.rls.subject import Subject
from tests.rls import corpus, world

TOKENS = (
    "SELECT",
    "FROM",
    "WHERE",
    "(",
    ")",
    ",",
    "tasks",
    "projects",
    "payroll",
    "pg_class",
    "*",
    "JOIN",
    "LEFT JOIN",
    "ON",
    "=",
    "'x'",
    "1",
    "WITH",
    "RECURSIVE",
    "AS",
    "UNION",
    "LATERAL",
    "INSERT",
    "INTO",
    "VALUES",
    "UPDATE",
    "SET",
    "DELETE",
    "USING",
    "RETURNING",
    ";",
    "--",
    "/*",
    "*/",
    "$1",
    "$2",
    "?",
    "::",
    "int",
    "regclass",
    "ORDER BY",
    "GROUP BY",
    "CASE",
    "WHEN",
    "THEN",
    "END",
    "NOT",
    "EXISTS",
    "IN",
    "t",
    "a.b",
    '"q"',
    '"tasks"',
    "OVER",
    "LIMIT",
    "OFFSET 0",
    "FOR UPDATE",
    "ON CONFLICT",
    "DO",
    "NOTHING",
    "UPDATE SET",
    "excluded.title",
    "internal_notes",
    "org_id",
    "public.tasks",
    "pg_sleep(1)",
    "lower(title)",
    "$$x$$",
    "E'\\\\'",
    "rowgate_cte_1",
    "TABLE",
    "COPY",
    "\n",
    "\t",
    "'",
    '"',
    "\\",
    "@",
    "#",
    "%",
    "^",
    "~",
    "||",
    "->",
    "?|",
)

#: Statements the rewriter accepts, to mutate.
SEEDS = tuple(corpus.corpus(4242, 300))


def subjects() -> st.SearchStrategy[Subject]:
    """One of the test world's subjects."""
    return st.sampled_from(tuple(world.SUBJECTS.values()))


def token_soup() -> st.SearchStrategy[str]:
    """SQL-ish tokens in any order."""
    return st.lists(st.sampled_from(TOKENS), max_size=40).map(" ".join)


def printable_text() -> st.SearchStrategy[str]:
    """Any text at all, biased to ASCII."""
    return st.one_of(
        st.text(max_size=120), st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=120)
    )


@st.composite
def mutated_sql(draw: st.DrawFn) -> str:
    """A statement the rewriter accepts, with tokens inserted, spans cut and pieces swapped."""
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(("insert", "cut", "swap", "double")))
        if action == "insert":
            text = text[:position] + " " + draw(st.sampled_from(TOKENS)) + " " + text[position:]
        elif action == "cut":
            end = draw(st.integers(position, min(len(text), position + 20)))
            text = text[:position] + text[end:]
        elif action == "swap":
            text = text[position:] + " " + text[:position]
        else:
            text = text[:position] + text[position:] + text[position:]
    return text


def any_sql() -> st.SearchStrategy[str]:
    """Random text, token soup or a mutated valid statement."""
    return st.one_of(printable_text(), token_soup(), mutated_sql())


# Token kinds -------------------------------------------------------------------------------------
#
# Statements built from the tokens that parsers treat differently: every way a dialect writes a
# string or a name, comments and semicolons around them, in every position a name or a value can
# stand.  The payloads mean something else once printed without their quotes (the escape of issue
# 10 was a string after AS printed as a bare name).

#: Contents that change a statement's meaning if they ever leave their quotes.
PAYLOADS = (
    "x",
    "Tasks",
    "org_id",
    "rowgate_cte_1",
    "",
    "x, org_id, title, internal_notes FROM public.tasks --",
    "x, email, password_hash FROM rowgate.users --",
    "x FROM tasks WHERE true --",
    "x) WHERE true --",
    "x */ , internal_notes /* ",
    "x\n, internal_notes FROM tasks --",
    "x; DELETE FROM tasks; --",
    "x' , internal_notes --",
    'x" , internal_notes --',
    "x$$ , internal_notes --",
    "x$q$ , internal_notes --",
    "x` , internal_notes --",
    "x] , internal_notes --",
    "\\' , internal_notes --",
    "1) , (SELECT password_hash FROM rowgate.users LIMIT 1",
    "day', now()) , (SELECT 1) --",
    "épée",
)


def _single(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _double(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _escaped(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


#: How each dialect writes strings and names, as functions of the content.
QUOTINGS: dict[str, tuple[Callable[[str], str], ...]] = {
    "postgres": (
        lambda c: c,
        _double,
        _single,
        lambda c: "E" + _escaped(c),
        lambda c: "e" + _escaped(c),
        lambda c: f"$${c}$$",
        lambda c: f"$q${c}$q$",
        lambda c: f"$_$x{c}$_$",
        lambda c: "N" + _single(c),
        lambda c: "U&" + _single(c),
        lambda c: "U&" + _single(c) + " UESCAPE '!'",
        lambda c: "U&" + _double(c),
        lambda c: "B'0101'",
        lambda c: "X'ff'",
        lambda c: _single(c) + "\n" + _single(c),
    ),
    "sqlite": (
        lambda c: c,
        _double,
        _single,
        lambda c: "[" + c + "]",
        lambda c: "`" + c.replace("`", "``") + "`",
        lambda c: "X'ff'",
        lambda c: "$" + c,
        lambda c: ":" + c,
    ),
    "mysql": (
        lambda c: c,
        lambda c: "`" + c.replace("`", "``") + "`",
        _single,
        _escaped,
        lambda c: '"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"',
        lambda c: "N" + _single(c),
        lambda c: "_utf8mb4" + _single(c),
        lambda c: "X'ff'",
        lambda c: "b'01'",
    ),
    "duckdb": (
        lambda c: c,
        _double,
        _single,
        lambda c: "E" + _escaped(c),
        lambda c: f"$${c}$$",
        lambda c: "X'ff'",
    ),
}

#: Every position a name or a value can stand in; ``{h}`` is the hole (the same token each time).
POSITIONS = (
    "SELECT 1 AS {h}, id FROM tasks",
    "SELECT id {h} FROM tasks",
    "SELECT id FROM tasks AS {h}",
    "SELECT id FROM tasks {h}",
    "SELECT {h}.id FROM tasks AS {h}",
    "WITH {h} AS (SELECT id FROM tasks) SELECT * FROM {h}",
    "WITH c({h}) AS (SELECT id FROM tasks) SELECT * FROM c",
    "SELECT * FROM (SELECT id FROM tasks) AS {h}",
    "SELECT * FROM (SELECT id FROM tasks) AS s({h})",
    "SELECT * FROM generate_series(1, 2) AS {h}(n)",
    "SELECT * FROM generate_series(1, 2) AS g({h})",
    "SELECT id, count(*) OVER {h} FROM tasks WINDOW {h} AS (ORDER BY id)",
    "SELECT id, row_number() OVER (PARTITION BY {h}) FROM tasks",
    "SELECT {h} FROM tasks",
    "SELECT id FROM tasks WHERE title = {h}",
    "SELECT id FROM tasks WHERE title IN ({h}, 'y')",
    "SELECT {h}::text FROM tasks",
    "SELECT CAST({h} AS text) FROM tasks",
    "SELECT id::{h} FROM tasks",
    "SELECT lower({h}) FROM tasks",
    "SELECT EXTRACT({h} FROM now())",
    "SELECT date_trunc({h}, now())",
    "SELECT make_interval({h} => 1)",
    "SELECT t.{h} FROM tasks t",
    "SELECT id FROM tasks ORDER BY {h}",
    "SELECT id FROM tasks GROUP BY id, {h}",
    "SELECT title COLLATE {h} FROM tasks",
    "SELECT id FROM tasks LIMIT {h}",
    "SELECT id FROM tasks UNION SELECT {h}",
    "SELECT (SELECT {h}) AS x FROM tasks",
    "UPDATE tasks SET title = (SELECT 'x' AS {h}) WHERE id = 1",
    "UPDATE tasks AS {h} SET title = 'x' WHERE id = 1",
    "UPDATE tasks SET {h} = 'x' WHERE id = 1",
    "UPDATE tasks SET title = {h} WHERE id = 1 RETURNING id, title",
    "INSERT INTO tasks (id, title) VALUES (900, {h})",
    "INSERT INTO tasks (id, {h}) VALUES (900, 'x')",
    "INSERT INTO notes (id, body) SELECT 901, {h}",
    "DELETE FROM tasks AS {h} WHERE id = 1",
    "DELETE FROM tasks WHERE title = {h} RETURNING id",
)

#: What may stand before or after the statement, or between its words.
DECORATIONS = (
    "",
    " --",
    " -- x\n",
    " /* c */",
    " /* /* nested */ */",
    " /* */ --",
    ";",
    "; SELECT 1",
    "\n",
    "#",
)


#: What may stand between two words without ending the statement early.
INSIDE = ("", "", "", " /* c */", " /* /* nested */ */", "\n", " -- x\n")


@st.composite
def token_statement(draw: st.DrawFn, dialect: str = "postgres") -> str:
    """A statement with a token of some kind, holding some payload, in some position."""
    quote = draw(st.sampled_from(QUOTINGS[dialect]))
    token = quote(draw(st.sampled_from(PAYLOADS)))
    statement = draw(st.sampled_from(POSITIONS)).format(h=token)
    words = statement.split(" ")
    cut = draw(st.integers(0, len(words)))
    inside = draw(st.sampled_from(INSIDE))
    return " ".join(words[:cut]) + inside + " " + " ".join(words[cut:]) + draw(st.sampled_from(DECORATIONS))
