"""``rls.literals``: which literals become parameters (a plain value on the right of a
comparison in a read) and which stay inline as part of the template; statements differing only
in such a value share one cached template of the rewriter."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rowgate.rls.errors import Refusal
from rowgate.rls.literals import MAX_LITERALS, normalise
from rowgate.rls.rewrite import Rewriter
from tests.rls import world

SUBJECT = world.SUBJECTS["user_a"]


@pytest.mark.parametrize(
    ("sql", "template", "values", "kinds"),
    [
        (
            "SELECT * FROM tasks WHERE id = 42",
            "SELECT * FROM tasks WHERE id =  $1::int4 ",
            ("42",),
            ("int4",),
        ),
        (
            "SELECT * FROM t WHERE a = 2147483648",
            "SELECT * FROM t WHERE a =  $1::int8 ",
            ("2147483648",),
            ("int8",),
        ),
        (
            "SELECT * FROM t WHERE a = 9223372036854775808",
            "SELECT * FROM t WHERE a =  $1::numeric ",
            ("9223372036854775808",),
            ("numeric",),
        ),
        (
            "SELECT * FROM t WHERE a < 4.50",
            "SELECT * FROM t WHERE a <  $1::numeric ",
            ("4.50",),
            ("numeric",),
        ),
        ("SELECT * FROM t WHERE a = 'it''s'", "SELECT * FROM t WHERE a =  $1 ", ("it's",), ("text",)),
        ("SELECT * FROM t WHERE a = 'a\\b'", "SELECT * FROM t WHERE a =  $1 ", ("a\\b",), ("text",)),
        ("SELECT * FROM t WHERE a <> 'x'", "SELECT * FROM t WHERE a <>  $1 ", ("x",), ("text",)),
        ("SELECT * FROM t WHERE a != 'x'", "SELECT * FROM t WHERE a !=  $1 ", ("x",), ("text",)),
        (
            "SELECT * FROM t WHERE a >= 1 AND b <= 2",
            "SELECT * FROM t WHERE a >=  $1::int4  AND b <=  $2::int4 ",
            ("1", "2"),
            ("int4", "int4"),
        ),
        ("SELECT * FROM t WHERE a LIKE 'x%'", "SELECT * FROM t WHERE a LIKE  $1 ", ("x%",), ("text",)),
        (
            "SELECT * FROM t WHERE a NOT ILIKE 'x%'",
            "SELECT * FROM t WHERE a NOT ILIKE  $1 ",
            ("x%",),
            ("text",),
        ),
        # numbered after the caller's own parameters
        (
            "SELECT * FROM t WHERE a = $1 AND b = 'x'",
            "SELECT * FROM t WHERE a = $1 AND b =  $2 ",
            ("x",),
            ("text",),
        ),
        (
            "WITH r AS (SELECT * FROM t WHERE a = 'x') SELECT * FROM r",
            "WITH r AS (SELECT * FROM t WHERE a =  $1 ) SELECT * FROM r",
            ("x",),
            ("text",),
        ),
        # a comparison's value in the select list or ORDER BY is a value too
        ("SELECT a = 'x' AS y FROM t", "SELECT a =  $1  AS y FROM t", ("x",), ("text",)),
        (
            "SELECT * FROM t WHERE a = 'x' -- it's",
            "SELECT * FROM t WHERE a =  $1  -- it's",
            ("x",),
            ("text",),
        ),
    ],
)
def test_plain_values_become_parameters(
    sql: str, template: str, values: tuple[str, ...], kinds: tuple[str, ...]
) -> None:
    found = normalise(sql, sql.count("$1"))
    assert found is not None
    assert (found.sql, found.values, found.kinds) == (template, values, kinds)


@pytest.mark.parametrize(
    "sql",
    [
        # names, casts and typed literals
        "SELECT * FROM t WHERE a = 'tasks'::regclass",
        "SELECT * FROM t WHERE a = CAST('1' AS int)",
        "SELECT * FROM t WHERE a = DATE '2024-01-01'",
        "SELECT * FROM t WHERE a = INTERVAL '1 day'",
        "SELECT * FROM t WHERE a = TIMESTAMP '2024-01-01'",
        "SELECT * FROM t WHERE a = 'x' COLLATE \"C\"",
        "SELECT * FROM t WHERE \"a = 'x'\" = b",
        # limits, lists, arrays, positions
        "SELECT * FROM t LIMIT 5 OFFSET 10",
        "SELECT * FROM t FETCH FIRST 5 ROWS ONLY",
        "SELECT * FROM t WHERE a IN (1, 2, 3)",
        "SELECT * FROM t WHERE a IN ('x', 'y')",
        "SELECT * FROM t WHERE a = ANY(ARRAY[1, 2])",
        "SELECT * FROM t WHERE a = ARRAY[1, 2]",
        "SELECT a, count(*) FROM t GROUP BY 1 ORDER BY 2",
        # other string spellings
        "SELECT * FROM t WHERE a = E'x\\'y'",
        "SELECT * FROM t WHERE a = $$x$$",
        "SELECT * FROM t WHERE a = $q$x$q$",
        "SELECT * FROM t WHERE a = U&'x'",
        "SELECT * FROM t WHERE a = B'101'",
        "SELECT * FROM t WHERE a = X'ff'",
        "SELECT * FROM t WHERE a = N'x'",
        "SELECT * FROM t WHERE a = 'x' 'y'",
        # signs, other number spellings
        "SELECT * FROM t WHERE a = -5",
        "SELECT * FROM t WHERE a = +5",
        "SELECT * FROM t WHERE a = 1e5",
        "SELECT * FROM t WHERE a = .5",
        "SELECT * FROM t WHERE a = 5.",
        "SELECT * FROM t WHERE a = 0x1f",
        "SELECT * FROM t WHERE a = 1_000",
        "SELECT * FROM t WHERE a = 5abc",
        # keywords
        "SELECT * FROM t WHERE a = NULL OR b = TRUE OR c = FALSE",
        # function arguments that select behaviour or name something
        "SELECT date_trunc('day', a) FROM t",
        "SELECT to_char(a, 'YYYY') FROM t",
        "SELECT extract(day FROM a) FROM t",
        "SELECT nextval('seq')",
        "SELECT set_config('rowgate.org_id', 'x', true)",
        "SELECT * FROM t WHERE a = lower('X')",
        # operators PostgreSQL reads as other, longer ones
        "SELECT * FROM t WHERE a ~= 'x'",
        "SELECT * FROM t WHERE a >=- 5",
        "SELECT * FROM t WHERE a = 'x'::text",
        "SELECT * FROM t WHERE a = 'x'||b",
        "SELECT * FROM t WHERE data->>'k' ? 'x'",
        # the left operand, other operators
        "SELECT * FROM t WHERE 'x' = a",
        "SELECT * FROM t WHERE a BETWEEN 1 AND 2",
        "SELECT * FROM t WHERE a IS DISTINCT FROM 'x'",
        # writes and settings keep their literals
        "UPDATE t SET a = 'x' WHERE id = 4",
        "INSERT INTO t (a) VALUES ('x')",
        "DELETE FROM t WHERE id = 4",
        "WITH d AS (DELETE FROM t WHERE id = 4 RETURNING *) SELECT * FROM d WHERE a = 'x'",
        "SELECT * INTO u FROM t WHERE a = 'x'",
        "SELECT * FROM t WHERE a = 'x' FOR UPDATE",
        "SET x = 'y'",
        # parameters the caller does not bind, other placeholder styles
        "SELECT * FROM t WHERE a = $2 AND b = 'x'",
        "SELECT * FROM t WHERE a = ? AND b = 'x'",
        "SELECT * FROM t WHERE a = :name AND b = 'x'",
        # nothing to take out
        "SELECT * FROM t",
    ],
)
def test_literals_that_are_not_plain_values_stay_inline(sql: str) -> None:
    found = normalise(sql, 1 if "$1" in sql else 0)
    assert found is None or found.sql == sql, found


def test_a_literal_whose_position_is_not_a_value_stays_in_the_template() -> None:
    found = normalise("SELECT * FROM t WHERE a = 'x' AND d = date_trunc('day', e) ORDER BY 1 LIMIT 10", 0)
    assert found is not None
    assert found.sql == "SELECT * FROM t WHERE a =  $1  AND d = date_trunc('day', e) ORDER BY 1 LIMIT 10"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM t WHERE a = 'x",
        "SELECT * FROM t WHERE a = 'x'' OR 1=1 --",
        "SELECT * FROM t WHERE a = $$x",
        "SELECT * FROM t WHERE a = $a$ $b$ x $b$",
        "SELECT * FROM t WHERE a = /* it's */ 'x'",
        "SELECT * FROM t WHERE a = 'x' /* unterminated",
        "SELECT * FROM t WHERE a = '\x00'",
        "SELECT * FROM t WHERE a = '\ud800'",
        "SELECT * FROM t WHERE a = " + "9" * 5000,
    ],
)
def test_hostile_statements_are_left_alone_or_normalised_without_error(sql: str) -> None:
    found = normalise(sql, 0)
    if found is not None:
        assert "x'' OR 1=1" not in found.sql or found.values == ()


def test_a_string_that_looks_like_sql_is_one_value() -> None:
    found = normalise("SELECT * FROM t WHERE a = 'x'' OR ''1''=''1' AND b = 1", 0)
    assert found is not None
    assert found.values == ("x' OR '1'='1", "1")
    assert found.sql == "SELECT * FROM t WHERE a =  $1  AND b =  $2::int4 "


def test_at_most_so_many_literals_are_taken_out() -> None:
    sql = "SELECT * FROM t WHERE " + " AND ".join(f"a{i} = {i}" for i in range(MAX_LITERALS + 5))
    found = normalise(sql, 0)
    assert found is not None
    assert len(found.values) == MAX_LITERALS
    assert found.sql.endswith(f"a{MAX_LITERALS + 4} = {MAX_LITERALS + 4}")


def test_statements_longer_than_the_limit_are_left_alone() -> None:
    assert normalise("SELECT * FROM t WHERE a = 1", 0, max_length=10) is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60), st.integers(min_value=0, max_value=10**30))
def test_any_string_or_number_round_trips_as_a_value(text: str, number: int) -> None:
    literal = "'" + text.replace("'", "''") + "'"
    found = normalise(f"SELECT * FROM t WHERE a = {literal} AND b = {number}", 0)
    if "\x00" in text or not _encodable(text):
        assert found is None
        return
    assert found is not None
    assert found.values == (text, str(number))
    assert found.sql == "SELECT * FROM t WHERE a =  $1  AND b =  $2::" + _kind(number) + " "


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("'\"$;-/*() =<>!1aE&:?\\\n"), max_size=40))
def test_arbitrary_text_never_raises(text: str) -> None:
    found = normalise("SELECT * FROM t WHERE a = " + text, 0)
    if found is not None:
        assert len(found.values) == len(found.kinds) >= 1


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _kind(number: int) -> str:
    return "int4" if number < 2**31 else "int8" if number < 2**63 else "numeric"


# -- the rewriter's template cache ------------------------------------------------------------


def _rewriter() -> Rewriter:
    return Rewriter(world.world_policies(), "postgres", schema=world.world_schema())


def _templates(rewriter: Rewriter, *statements: str) -> int:
    """How many templates the rewriter caches after rewriting ``statements`` normalised."""
    for sql in statements:
        found = normalise(sql, 0)
        assert found is not None
        rewriter.rewrite(found.sql, SUBJECT, len(found.values))
    return len(rewriter._cache)


def test_statements_differing_only_in_a_value_share_one_template() -> None:
    assert (
        _templates(
            _rewriter(),
            "SELECT id, title FROM tasks WHERE priority = 1 AND title = 'a'",
            "SELECT id, title FROM tasks WHERE priority = 7 AND title = 'another'",
            "SELECT id, title FROM tasks WHERE priority = 99 AND title = 'it''s'",
        )
        == 1
    )


def test_statements_differing_in_a_position_or_a_limit_have_templates_of_their_own() -> None:
    assert (
        _templates(
            _rewriter(),
            "SELECT id, title FROM tasks WHERE priority = 1 ORDER BY 1",
            "SELECT id, title FROM tasks WHERE priority = 1 ORDER BY 2",
            "SELECT id, title FROM tasks WHERE priority = 1 ORDER BY 2 LIMIT 5",
            "SELECT id, title FROM tasks WHERE priority = 1 ORDER BY 2 LIMIT 6",
        )
        == 4
    )


def test_numbers_of_other_types_have_templates_of_their_own() -> None:
    assert (
        _templates(
            _rewriter(),
            "SELECT id FROM tasks WHERE priority = 1",
            "SELECT id FROM tasks WHERE priority = 3000000000",
            "SELECT id FROM tasks WHERE priority = 1.5",
        )
        == 3
    )


def test_the_normalised_statement_is_confined_like_the_original() -> None:
    rewriter = _rewriter()
    found = normalise("SELECT id FROM tasks WHERE title = 'a'", 0)
    assert found is not None
    normalised = rewriter.rewrite(found.sql, SUBJECT, 1)
    original = rewriter.rewrite("SELECT id FROM tasks WHERE title = $1", SUBJECT, 1)
    assert normalised.sql == original.sql
    assert normalised.params == original.params


def test_a_refused_statement_is_refused_either_way() -> None:
    rewriter = _rewriter()
    sql = "SELECT * FROM rowgate_secrets WHERE id = 1"
    found = normalise(sql, 0)
    assert found is not None
    with pytest.raises(Refusal) as normalised:
        rewriter.rewrite(found.sql, SUBJECT, 1)
    with pytest.raises(Refusal) as original:
        rewriter.rewrite(sql, SUBJECT, 0)
    assert normalised.value.code == original.value.code
