"""Hypothesis strategies shared by the rls tests."""

from __future__ import annotations

from hypothesis import strategies as st

from rls.subject import Subject
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
