"""Route rules (pure)."""

from __future__ import annotations

import pytest

from rowgate.config.schema import RouteRule, RouteSettings
from rowgate.proxy.routes import RouteTable, compile_pattern


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("/api/**", "/api", True),
        ("/api/**", "/api/", True),
        ("/api/**", "/api/a/b/c", True),
        ("/api/**", "/apix", False),
        ("/api/*", "/api/a", True),
        ("/api/*", "/api/a/b", False),
        ("/files/*.png", "/files/cat.png", True),
        ("/files/*.png", "/files/cat.png/x", False),
        ("/tasks/{id}", "/tasks/42", True),
        ("/tasks/{id}", "/tasks/", False),
        ("/", "/", True),
        ("/", "/x", False),
        ("/a.b", "/aXb", False),
    ],
)
def test_patterns(pattern: str, path: str, matches: bool) -> None:
    assert (compile_pattern(pattern).fullmatch(path) is not None) is matches


def table(*rules: RouteRule, default: str = "deny") -> RouteTable:
    return RouteTable(RouteSettings(default=default, rules=rules))  # type: ignore[arg-type]


def test_first_matching_rule_wins_and_methods_filter() -> None:
    routes = table(
        RouteRule(path="/api/public/**", methods=("GET",), level="public"),
        RouteRule(path="/api/**", level="authenticated"),
    )
    assert routes.match("GET", "/api/public/x").level == "public"
    assert routes.match("POST", "/api/public/x").level == "authenticated"
    assert routes.match("GET", "/other").level == "deny"
    assert routes.match("GET", "/other").rule is None


def test_captured_parameters() -> None:
    routes = table(RouteRule(path="/tasks/{id}/comments/{comment}", level="authenticated"))
    assert routes.match("GET", "/tasks/7/comments/9").params == {"id": "7", "comment": "9"}


def test_the_default_applies_to_unmatched_paths() -> None:
    assert table(default="public").match("DELETE", "/anything").level == "public"


def test_letter_case_matters_unless_configured_otherwise() -> None:
    rules = [RouteRule(path="/admin-only/**", level="admin"), RouteRule(path="/**", level="public")]
    exact = RouteTable(RouteSettings(rules=tuple(rules)))
    assert exact.match("GET", "/Admin-Only/x").level == "public"
    folded = RouteTable(RouteSettings(rules=tuple(rules), case_sensitive=False))
    for path in ("/admin-only/x", "/Admin-Only/x", "/ADMIN-ONLY"):
        assert folded.match("GET", path).level == "admin"
    assert folded.match("GET", "/TASKS/42").level == "public"
