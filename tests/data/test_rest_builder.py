"""The pure REST pieces: the query-string grammar, the SQL it becomes, and typed values."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from rowgate.errors import BadRequest, ValidationFailed
from rowgate.proxy.data.catalog import column, table_info
from rowgate.proxy.data.restquery import Filter, Group, Order, parse_read
from rowgate.proxy.data.restsql import (
    build_count,
    build_delete,
    build_get,
    build_insert,
    build_read,
    build_update,
    quote,
)
from rowgate.proxy.data.values import column_type, from_json, from_text

TASKS = table_info(
    "public",
    "tasks",
    [
        column("id", "uuid", not_null=True, has_default=True),
        column("org_id", "uuid", not_null=True),
        column("title", "text", not_null=True),
        column("priority", "integer", not_null=True, has_default=True),
        column("due", "date"),
        column("estimate", "numeric(6,2)"),
        column("tags", "text[]"),
        column("slug", "character varying(5)"),
        column("total", "bigint", generated=True),
    ],
    ["id"],
)


def read(*pairs: tuple[str, str]) -> tuple[str, tuple[object, ...]]:
    statement = build_read(TASKS, parse_read(pairs, default_limit=10, max_limit=100))
    return statement.sql, statement.params


def test_a_read_is_parameterised_sql_over_the_plain_table() -> None:
    sql, params = read(("priority", "gte.2"), ("title", "ilike.*bug*"), ("order", "due.desc.nullslast,id"))
    assert sql == (
        'SELECT * FROM "public"."tasks" WHERE ("priority" >= $1) AND ("title" ILIKE $2) '
        'ORDER BY "due" DESC NULLS LAST, "id" ASC LIMIT $3'
    )
    assert params == (2, "%bug%", 10)


def test_groups_negation_in_and_is() -> None:
    sql, params = read(
        ("or", "(priority.in.(1,2),not.and(due.is.null,title.not.like.a*))"), ("select", "id,title")
    )
    assert sql == (
        'SELECT "id", "title" FROM "public"."tasks" WHERE (("priority" IN ($1, $2)) OR '
        'NOT (("due" IS NULL) AND NOT ("title" LIKE $3))) LIMIT $4'
    )
    assert params == (1, 2, "a%", 10)


def test_an_offset_is_written_only_when_it_skips_rows() -> None:
    # A first page has no OFFSET, so PostgreSQL can keep one generic plan for it (an unknown
    # OFFSET $n makes the generic plan look costlier than a custom one, re-planned every time).
    assert read(("limit", "5"), ("offset", "0")) == ('SELECT * FROM "public"."tasks" LIMIT $1', (5,))
    assert read(("priority", "eq.1"), ("offset", "3")) == (
        'SELECT * FROM "public"."tasks" WHERE ("priority" = $1) LIMIT $2 OFFSET $3',
        (1, 10, 3),
    )


def test_the_sql_depends_only_on_the_shape_of_the_request() -> None:
    assert read(("priority", "eq.1"))[0] == read(("priority", "eq.7"))[0]
    assert read(("limit", "5"))[0] == read(("limit", "50"), ("offset", "0"))[0]
    assert read(("limit", "5"), ("offset", "1"))[0] == read(("limit", "50"), ("offset", "3"))[0]


def test_writes() -> None:
    one = build_insert(TASKS, [{"title": "a", "due": "2024-01-02"}, {"title": "b", "priority": 3}])
    assert one.sql == (
        'INSERT INTO "public"."tasks" ("title", "due", "priority") '
        "VALUES ($1, $2, DEFAULT), ($3, DEFAULT, $4) RETURNING *"
    )
    assert one.params == ("a", date(2024, 1, 2), "b", 3)
    key = str(uuid.uuid4())
    update = build_update(TASKS, key, {"estimate": 1.5})
    assert update.sql == 'UPDATE "public"."tasks" SET "estimate" = $1 WHERE "id" = $2 RETURNING *'
    assert update.params == (Decimal("1.5"), uuid.UUID(key))
    assert build_delete(TASKS, key).sql == 'DELETE FROM "public"."tasks" WHERE "id" = $1 RETURNING *'
    assert build_get(TASKS, key, ("id",)).sql == 'SELECT "id" FROM "public"."tasks" WHERE "id" = $1'
    assert build_insert(TASKS, [{}]).sql == 'INSERT INTO "public"."tasks" DEFAULT VALUES RETURNING *'
    counted = build_count(TASKS, parse_read([("due", "is.null")], default_limit=1, max_limit=1))
    assert counted.sql == 'SELECT count(*) AS "count" FROM "public"."tasks" WHERE ("due" IS NULL)'


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"total": 1}, ValidationFailed),
        ({"nope": 1}, BadRequest),
        ({"slug": "toolong"}, ValidationFailed),
        ({"tags": ["a", 1]}, ValidationFailed),
        ({"priority": 2**31}, ValidationFailed),
    ],
)
def test_bad_bodies(body: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        build_insert(TASKS, [body])


def test_the_grammar() -> None:
    query = parse_read(
        [
            ("a", 'not.in.(1,"x,y")'),
            ("or", "(b.eq.1,and(c.is.null,d.not.gt.2))"),
            ("order", "e.desc.nullsfirst"),
        ],
        default_limit=3,
        max_limit=9,
    )
    assert query.where == (
        Filter("a", "in", ("1", "x,y"), True),
        Group(
            "or",
            (Filter("b", "eq", "1"), Group("and", (Filter("c", "is", "null"), Filter("d", "gt", "2", True)))),
        ),
    )
    assert query.order == (Order("e", True, "first"),)
    assert (query.limit, query.offset, query.count, query.columns) == (3, 0, False, None)


def test_values_by_type() -> None:
    assert from_text("-12", column_type("smallint")) == -12
    assert from_text("true", column_type("boolean")) is True
    assert from_text("2024-01-02T03:04:05Z", column_type("timestamp with time zone")) == datetime(
        2024, 1, 2, 3, 4, 5, tzinfo=UTC
    )
    assert from_text("2024-01-02T03:04:05", column_type("timestamp with time zone")).tzinfo is UTC
    assert from_json(["1.5"], column_type("numeric[]")) == [Decimal("1.5")]
    assert from_json({"a": [1]}, column_type("jsonb")) == {"a": [1]}
    assert from_json("aGk=", column_type("bytea")) == b"hi"
    assert from_json("mood", column_type("my_enum")) == "mood"
    for bad, kind in (("1e400", "double precision"), ("NaN", "numeric"), ("x", "uuid"), ("1", "date")):
        with pytest.raises(ValueError, match="expected"):
            from_text(bad, column_type(kind))


@given(st.text(max_size=40))
def test_quoting_always_names_exactly_the_identifier(name: str) -> None:
    quoted = quote(name)
    assert quoted.startswith('"')
    assert quoted.endswith('"')
    assert quoted[1:-1].replace('""', "").count('"') == 0


@given(
    st.lists(
        st.tuples(st.sampled_from(["priority", "title", "or", "order", "limit", "x"]), st.text(max_size=30)),
        max_size=6,
    )
)
@example([("limit", "²"), ("offset", "٣")])  # digits to str.isdigit, not to int()
def test_any_query_string_parses_or_is_a_bad_request(pairs: list[tuple[str, str]]) -> None:
    with contextlib.suppress(BadRequest):
        build_read(TASKS, parse_read(pairs, default_limit=10, max_limit=100))
