"""Route rules for upstream paths: compiled once from config, matched per request (pure code).

Patterns are paths where ``*`` matches within one segment, ``**`` matches any number of
segments (including none), and ``{name}`` captures one segment by name.  The first rule whose
pattern and methods match wins; a path no rule matches gets the configured default level.

Paths are checked in a canonical form (``canonical_path``) and the same canonical form is what
the upstream receives, so that ``/public/../admin`` or ``/admin%2Fx`` cannot match one rule here
and mean another path to the upstream.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote

from config.errors import BadRequest
from config.schema import Level, RouteRule, RouteSettings

_TOKEN = re.compile(r"\*\*|\*|\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """One rule with its pattern as a regular expression."""

    rule: RouteRule
    regex: re.Pattern[str]
    methods: frozenset[str]

    @property
    def level(self) -> Level:
        return self.rule.level


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """The rule that decided a request (None: the default applied) and captured parameters."""

    level: Level
    rule: RouteRule | None = None
    params: dict[str, str] = field(default_factory=dict)


def compile_pattern(pattern: str) -> re.Pattern[str]:
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
    return re.compile("".join(out))


class RouteTable:
    """Compiled route rules; ``match`` finds the rule for a method and canonical path."""

    def __init__(self, settings: RouteSettings) -> None:
        self.default: Level = settings.default
        self.rules: Sequence[CompiledRule] = tuple(
            CompiledRule(rule, compile_pattern(rule.path), frozenset(rule.methods)) for rule in settings.rules
        )

    def match(self, method: str, path: str) -> RouteMatch:
        for compiled in self.rules:
            if compiled.methods and method not in compiled.methods:
                continue
            found = compiled.regex.fullmatch(path)
            if found:
                return RouteMatch(compiled.level, compiled.rule, found.groupdict())
        return RouteMatch(self.default)


def canonical_path(raw_path: str) -> str:
    """The percent-decoded path, refused when it could mean different paths to different servers.

    Refused: dot segments (``.``/``..``), encoded slashes or backslashes, NUL and control
    characters, and empty segments (``//``).
    """
    path = raw_path.split("?", 1)[0]
    lowered = path.lower()
    if "%2f" in lowered or "%5c" in lowered or "%00" in lowered:
        raise BadRequest("The path holds an encoded slash, backslash or NUL.", code="invalid_path")
    try:
        decoded = unquote(path, errors="strict")
    except UnicodeDecodeError:
        raise BadRequest("The path is not valid percent-encoded UTF-8.", code="invalid_path") from None
    if (
        not decoded.startswith("/")
        or "\\" in decoded
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in decoded)
    ):
        raise BadRequest("The path must start with / and hold no control characters.", code="invalid_path")
    segments = decoded.split("/")[1:]
    if any(s in (".", "..") for s in segments) or any(s == "" for s in segments[:-1]):
        raise BadRequest("The path holds '.', '..' or empty segments.", code="invalid_path")
    return decoded
