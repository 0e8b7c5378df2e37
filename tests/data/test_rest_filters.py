"""Filters, ordering, paging and counts against a reference computed in Python from the seed rows
(with SQL's three-valued logic: a comparison with NULL is unknown, and unknown rows are left out)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from tests.data import world
from tests.data.conftest import Client

pytestmark = pytest.mark.integration

Row = dict[str, Any]
Test = Callable[[Row], bool | None]


def cmp(column: str, op: Callable[[Any, Any], bool], value: Any) -> Test:
    return lambda row: None if row[column] is None else op(row[column], value)


def not_(test: Test) -> Test:
    def run(row: Row) -> bool | None:
        result = test(row)
        return None if result is None else not result

    return run


def all_(*tests: Test) -> Test:
    def run(row: Row) -> bool | None:
        results = [t(row) for t in tests]
        if False in results:
            return False
        return None if None in results else True

    return run


def any_(*tests: Test) -> Test:
    def run(row: Row) -> bool | None:
        results = [t(row) for t in tests]
        if True in results:
            return True
        return None if None in results else False

    return run


def eq(column: str, value: Any) -> Test:
    return cmp(column, lambda a, b: a == b, value)


def contains(column: str, text: str, *, case: bool) -> Test:
    if case:
        return cmp(column, lambda a, b: b in a, text)
    return cmp(column, lambda a, b: b.lower() in a.lower(), text)


def is_null(column: str) -> Test:
    return lambda row: row[column] is None


CASES: list[tuple[str, list[tuple[str, str]], Test]] = [
    ("eq", [("priority", "eq.2")], eq("priority", 2)),
    ("range", [("priority", "gte.2"), ("priority", "lt.4")], cmp("priority", lambda a, b: 2 <= a < b, 4)),
    ("ilike", [("title", "ilike.*bug*")], contains("title", "bug", case=False)),
    ("like", [("title", "like.*bug*")], contains("title", "bug", case=True)),
    ("is true", [("done", "is.true")], eq("done", True)),
    ("is false", [("done", "is.false")], eq("done", False)),
    ("is null", [("due", "is.null")], is_null("due")),
    ("not is null", [("due", "not.is.null")], not_(is_null("due"))),
    ("in", [("priority", "in.(1,3)")], cmp("priority", lambda a, b: a in b, (1, 3))),
    ("not in", [("priority", "not.in.(1,3)")], not_(cmp("priority", lambda a, b: a in b, (1, 3)))),
    ("empty in", [("priority", "in.()")], lambda row: False),
    ("neq", [("title", "neq.docs 3")], not_(eq("title", "docs 3"))),
    ("not eq", [("priority", "not.eq.0")], not_(eq("priority", 0))),
    ("or", [("or", "(priority.eq.0,done.is.true)")], any_(eq("priority", 0), eq("done", True))),
    (
        "nested",
        [("or", "(due.is.null,and(priority.gte.3,title.ilike.*bug*))")],
        any_(
            is_null("due"),
            all_(cmp("priority", lambda a, b: a >= b, 3), contains("title", "bug", case=False)),
        ),
    ),
    (
        "not or",
        [("not.or", "(priority.eq.0,priority.eq.1)")],
        not_(any_(eq("priority", 0), eq("priority", 1))),
    ),
    (
        "and",
        [("and", "(priority.gt.1,done.is.false)")],
        all_(cmp("priority", lambda a, b: a > b, 1), eq("done", False)),
    ),
    ("numeric", [("estimate", "gt.2.5")], cmp("estimate", lambda a, b: a > b, Decimal("2.5"))),
    ("numeric neq null", [("estimate", "neq.0.25")], not_(eq("estimate", Decimal("0.25")))),
    ("date", [("due", "lt.2024-02-05")], cmp("due", lambda a, b: a < b, date(2024, 2, 5))),
    (
        "timestamptz",
        [("created_at", "gte.2024-01-01T10:00:00Z")],
        cmp("created_at", lambda a, b: a >= b, datetime(2024, 1, 1, 10, tzinfo=UTC)),
    ),
    ("uuid", [("created_by", f"eq.{world.USER_A}")], eq("created_by", world.USER_A)),
    (
        "uuid in",
        [("id", f"in.({world.task_id(1)},{world.task_id(2)})")],
        cmp("id", lambda a, b: a in b, {world.task_id(1), world.task_id(2)}),
    ),
    ("bigint null", [("project_id", "is.null")], is_null("project_id")),
    (
        "quoted",
        [("or", '(title.eq."login bug 0",title.eq."x,y",title.eq."search bug 2")')],
        cmp("title", lambda a, b: a in b, {"login bug 0", "search bug 2"}),
    ),
    ("quoted in", [("title", 'in.("login bug 0","a,b")')], eq("title", "login bug 0")),
    (
        "mixed",
        [("priority", "lte.3"), ("or", "(done.is.true,title.ilike.*o*)")],
        all_(
            cmp("priority", lambda a, b: a <= b, 3),
            any_(eq("done", True), contains("title", "o", case=False)),
        ),
    ),
]


@pytest.mark.parametrize(("params", "test"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_filters_match_the_python_reference(
    client: Client, params: list[tuple[str, str]], test: Test
) -> None:
    rows = world.visible_tasks(world.CALLERS["admin_a"])
    expected = sorted(r["id"] for r in rows if test(r) is True)
    status, body = await client.call("GET", "/v1/data/tasks", "admin_a", params=[*params, ("limit", "1000")])
    assert status == 200, body
    assert sorted(r["id"] for r in body["data"]) == expected
    status, counted = await client.call(
        "GET", "/v1/data/tasks", "admin_a", params=[*params, ("count", "exact"), ("limit", "1")]
    )
    assert counted["count"] == len(expected)
    assert len(counted["data"]) == min(1, len(expected))


def pg_key(column: str, *, descending: bool, nulls_first: bool | None) -> Callable[[Row], Any]:
    """PostgreSQL's order: NULLS LAST for ASC and NULLS FIRST for DESC unless told otherwise."""
    first = descending if nulls_first is None else nulls_first

    def key(row: Row) -> Any:
        value = row[column]
        null_rank = (0 if first else 1) if value is None else (1 if first else 0)
        return (null_rank, value)

    return key


ORDERS = [
    ("priority.desc,id", [("priority", True, None), ("id", False, None)]),
    ("due,id", [("due", False, None), ("id", False, None)]),
    ("due.desc,id", [("due", True, None), ("id", False, None)]),
    ("due.asc.nullsfirst,id.desc", [("due", False, True), ("id", True, None)]),
    ("estimate.desc.nullslast,id", [("estimate", True, False), ("id", False, None)]),
    ("title", [("title", False, None)]),
]


def reference_order(rows: list[Row], spec: list[tuple[str, bool, bool | None]]) -> list[str]:
    ordered = list(rows)
    for column, descending, nulls_first in reversed(spec):
        nulls = descending if nulls_first is None else nulls_first
        present = [r for r in ordered if r[column] is not None]
        absent = [r for r in ordered if r[column] is None]
        present.sort(key=lambda r: r[column], reverse=descending)
        ordered = absent + present if nulls else present + absent
    return [r["id"] for r in ordered]


@pytest.mark.parametrize(("order", "spec"), ORDERS, ids=[o[0] for o in ORDERS])
async def test_order_matches_the_python_reference(
    client: Client, order: str, spec: list[tuple[str, bool, bool | None]]
) -> None:
    rows = world.visible_tasks(world.CALLERS["user_a"])
    expected = reference_order(rows, spec)
    status, body = await client.call(
        "GET", "/v1/data/tasks", "user_a", params={"order": order, "limit": "1000"}
    )
    assert status == 200, body
    if order == "title":  # titles are unique per tenant; text collation may differ from Python's
        assert sorted(r["id"] for r in body["data"]) == sorted(expected)
        return
    assert [r["id"] for r in body["data"]] == expected


async def test_limit_offset_and_count_page_through_the_rows(client: Client) -> None:
    expected = reference_order(world.visible_tasks(world.CALLERS["user_a"]), [("id", False, None)])
    pages = []
    for offset in range(0, len(expected) + 5, 5):
        status, body = await client.call(
            "GET",
            "/v1/data/tasks",
            "user_a",
            params={"order": "id", "limit": "5", "offset": str(offset), "count": "exact"},
        )
        assert status == 200
        assert body["count"] == len(expected)
        pages.extend(r["id"] for r in body["data"])
    assert pages == expected


async def test_default_limit_applies_and_select_chooses_columns(client: Client, server: object) -> None:
    status, body = await client.call(
        "GET", "/v1/data/tasks", "admin_a", params={"select": "id,title,priority", "order": "id"}
    )
    assert status == 200
    assert all(list(row) == ["id", "title", "priority"] for row in body["data"])
    status, body = await client.call("GET", "/v1/data/tasks", "admin_a", params={"limit": "0"})
    assert body["data"] == []
    assert "count" not in body


async def test_types_round_trip_through_json(client: Client) -> None:
    row = next(
        r for r in world.seed_tasks() if r["meta"] is not None and r["estimate"] is not None and r["tags"]
    )
    status, body = await client.call("GET", f"/v1/data/tasks/{row['id']}", "admin_a")
    assert status == 200
    assert body["data"] == world.row_json(row)
    payload = {
        "title": "typed",
        "due": "2025-03-04",
        "estimate": "12.5",
        "tags": ["a", "b"],
        "meta": {"nested": [1, {"x": None}]},
        "project_id": 1,
    }
    status, body = await client.call("POST", "/v1/data/tasks", "admin_a", json=payload)
    assert status == 201, body
    created = body["data"]
    assert {k: created[k] for k in payload} == {**payload, "estimate": "12.50"}
