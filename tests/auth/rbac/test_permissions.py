"""The permission algebra: coverage, canonical sets, intersections (checked against brute force)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rowgate.auth.rbac.permissions import (
    canonical,
    concrete,
    covers,
    grants,
    intersection,
    is_concrete,
    is_grantable,
    missing,
    within,
)

RESOURCES = ("tasks", "projects", "billing")
ACTIONS = ("read", "create", "delete")
UNIVERSE = [f"{r}:{a}" for r, a in itertools.product(RESOURCES, ACTIONS)]
PATTERNS = ["*", "*:*", *UNIVERSE, *(f"{r}:*" for r in RESOURCES), *(f"*:{a}" for a in ACTIONS)]
pattern_sets = st.lists(st.sampled_from(PATTERNS), max_size=6)


def expand(patterns: list[str] | frozenset[str]) -> set[str]:
    """Every concrete permission of the universe the patterns grant (the brute-force meaning)."""
    return {p for p in UNIVERSE if any(covers(g, p) for g in patterns)}


@pytest.mark.parametrize(
    ("granted", "required", "expected"),
    [
        (["*"], "tasks:read", True),
        (["*:*"], "tasks:read", True),
        (["tasks:*"], "tasks:read", True),
        (["*:read"], "tasks:read", True),
        (["*:read"], "tasks:create", False),
        (["tasks:read"], "tasks:read", True),
        (["tasks:read"], "task:read", False),
        (["projects:*"], "tasks:read", False),
        ([], "tasks:read", False),
    ],
)
def test_grants(granted: list[str], required: str, expected: bool) -> None:
    assert grants(canonical(granted), required) is expected


def test_missing_names_what_is_lacking_in_order() -> None:
    assert missing(canonical(["*:read"]), ["tasks:read", "tasks:create", "billing:delete"]) == [
        "tasks:create",
        "billing:delete",
    ]


@pytest.mark.parametrize(
    ("text", "grantable", "required"),
    [
        ("*", True, False),
        ("*:*", True, False),
        ("tasks:*", True, False),
        ("*:read", True, False),
        ("tasks:read", True, True),
        ("billing.invoices:read-all", True, True),
        ("tasks", False, False),
        ("tasks:", False, False),
        (":read", False, False),
        ("tasks:read:x", False, False),
        ("ta*sks:read", False, False),
        ("tasks :read", False, False),
        ("", False, False),
        ("a" * 65 + ":read", False, False),
    ],
)
def test_grammar(text: str, grantable: bool, required: bool) -> None:
    assert is_grantable(text) is grantable
    assert is_concrete(text) is required


def test_canonical_drops_what_another_member_covers() -> None:
    assert canonical(["tasks:read", "tasks:*", "*:read", "projects:read"]) == {"tasks:*", "*:read"}
    assert canonical(["*:*", "tasks:read"]) == {"*"}


def test_concrete_lists_named_permissions_only() -> None:
    assert concrete(["*", "tasks:read"], ["*:read", "b:c"], ["tasks:read"]) == ["b:c", "tasks:read"]


@given(pattern_sets, pattern_sets)
def test_intersection_grants_exactly_what_both_grant(a: list[str], b: list[str]) -> None:
    assert expand(intersection(a, b)) == expand(a) & expand(b)


@given(pattern_sets)
def test_canonical_grants_the_same(a: list[str]) -> None:
    assert expand(canonical(a)) == expand(a)


@given(pattern_sets, pattern_sets)
def test_within_is_inclusion(a: list[str], b: list[str]) -> None:
    # Over a universe where every pattern shape occurs, inclusion of meanings is ``within``
    # as long as wildcards are compared as wildcards (``*:read`` is not within a list of reads).
    if within(a, b):
        assert expand(a) <= expand(b)


@given(pattern_sets, st.sampled_from(UNIVERSE))
def test_grants_agrees_with_covers(a: list[str], permission: str) -> None:
    assert grants(canonical(a), permission) == (permission in expand(a))
