"""Route rules for upstream paths: compiled once from config, matched per request (pure code).

Patterns are paths where ``*`` matches within one segment, ``**`` matches any number of
segments (including none), and ``{name}`` captures one segment by name.  The first rule whose
pattern and methods match wins; a path no rule matches gets the configured default level.

Rules are matched against the canonical path (``proxy.paths``: percent-decoded once, ambiguous
spellings refused), which is also the path the upstream receives.  Matching is case-sensitive, as
HTTP paths are; ``routes.case_sensitive: false`` matches without regard to letter case (Unicode
case-insensitive) for upstreams that treat paths so (IIS, some Spring set-ups), so that ``/Admin``
cannot slip past a rule written for ``/admin``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from rowgate.config.schema import Level, RouteRule, RouteSettings

_TOKEN = re.compile(r"\*\*|\*|\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """The rule that decided a request (None: the default applied) and captured parameters."""

    level: Level
    rule: RouteRule | None = None
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """One rule with its pattern as a regular expression."""

    rule: RouteRule
    regex: re.Pattern[str]
    methods: frozenset[str]
    #: The one match of a pattern that captures nothing, made once (None: it captures parameters).
    fixed: RouteMatch | None = None

    @property
    def level(self) -> Level:
        return self.rule.level

    @classmethod
    def of(cls, rule: RouteRule, regex: re.Pattern[str]) -> CompiledRule:
        fixed = None if regex.groups else RouteMatch(rule.level, rule, MappingProxyType({}))
        return cls(rule, regex, frozenset(rule.methods), fixed)


def compile_pattern(pattern: str, *, case_sensitive: bool = True) -> re.Pattern[str]:
    """``/api/**`` → a regex matching ``/api``, ``/api/`` and everything below it."""
    out, pos = [], 0
    for match in _TOKEN.finditer(pattern):
        out.append(re.escape(pattern[pos : match.start()]))
        piece = match.group(0)
        if piece == "**":
            # "/x/**" also matches "/x" itself: the slash before ** is optional.
            if out and out[-1].endswith("/"):
                out[-1] = out[-1][:-1]
                out.append("(?:/.*)?")
            else:
                out.append(".*")
        elif piece == "*":
            out.append("[^/]*")
        else:
            out.append(f"(?P<{match.group(1)}>[^/]+)")
        pos = match.end()
    out.append(re.escape(pattern[pos:]))
    return re.compile("".join(out), 0 if case_sensitive else re.IGNORECASE)


class RouteTable:
    """Compiled route rules; ``match`` finds the rule for a method and canonical path."""

    def __init__(self, settings: RouteSettings) -> None:
        self.default: Level = settings.default
        self.rules: Sequence[CompiledRule] = tuple(
            CompiledRule.of(rule, compile_pattern(rule.path, case_sensitive=settings.case_sensitive))
            for rule in settings.rules
        )
        self._default = RouteMatch(self.default, None, MappingProxyType({}))

    def match(self, method: str, path: str) -> RouteMatch:
        for compiled in self.rules:
            if compiled.methods and method not in compiled.methods:
                continue
            found = compiled.regex.fullmatch(path)
            if found:
                if compiled.fixed is not None:
                    return compiled.fixed
                return RouteMatch(compiled.level, compiled.rule, found.groupdict())
        return self._default
