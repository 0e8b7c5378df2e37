"""The commands to try: one list that the start-up banner prints and the README shows.

The README's "What to try" block is this list rendered for ``http://127.0.0.1:8080`` (a test
compares them, and runs every command against a live ``rowgate demo``); print it with
``python -m rowgate.proxy.examples``.  Placeholders: ``{url}`` is rowgate's address, ``{auth}``,
``{data}`` and ``{sql}`` its mounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rowgate.config.schema import Settings

#: The address rowgate demo listens on by default, which the README shows.
README_URL = "http://127.0.0.1:8080"

Shown = Literal["always", "demo", "metrics"]

JSON = "-H 'Content-Type: application/json'"
BEARER = '-H "Authorization: Bearer $TOKEN"'
ADA = """-d '{"email": "ada@example.com", "password": "Correct-Horse-9"}'"""
#: Prints the access token of a sign-in answer, or exits 1 with the problem's detail.
PRINT_ACCESS = (
    "python3 -c 'import json,sys; d = json.load(sys.stdin); "
    """print(d.get("accessToken") or sys.exit(d["detail"]))'"""
)


@dataclass(frozen=True, slots=True)
class Example:
    """One shell command (lines after the first continue it) and what it shows."""

    command: str
    comment: str = ""
    shown: Shown = "always"


@dataclass(frozen=True, slots=True)
class Group:
    title: str
    examples: tuple[Example, ...]
    shown: Shown = "always"


GROUPS = (
    Group(
        "The demo app behind rowgate:",
        (
            Example("curl {url}/public/hello", "a public route of the demo app"),
            Example("curl -i {url}/api/whoami", "401 problem: this route needs a signed-in user"),
        ),
        shown="demo",
    ),
    Group(
        "rowgate itself:",
        (
            Example("curl {url}/healthz", "liveness: rowgate answers"),
            Example("curl {url}/readyz", "readiness: its database and store answer (else 503 not_ready)"),
            Example("curl -s {url}/metrics | grep rowgate_requests_total", "Prometheus metrics", "metrics"),
            Example("curl {url}/.well-known/jwks.json", "the public keys that verify its tokens"),
        ),
    ),
    Group(
        "Sign up once (you become the admin of a new organisation), then sign in on every run:",
        (
            Example(
                f"curl -s -o /dev/null -w '%{{http_code}}\\n' {JSON} \\\n  {ADA} \\\n  {{auth}}/email/signup",
                "201 the first time, 409 (email_taken) once the account exists",
            ),
            Example(
                f"TOKEN=$(curl -s {JSON} \\\n  {ADA} \\\n  {{auth}}/email/signin \\\n  | {PRINT_ACCESS})",
                "the access token; run it again when it expires",
            ),
            Example(f"curl {BEARER} {{url}}/api/whoami", "the demo app sees X-Rowgate-User-Id ...", "demo"),
            Example(f"curl {BEARER} {{auth}}/me", "you, your organisation and your role"),
        ),
    ),
    Group(
        "The data API: rows confined to your organisation by the policies (config/policies.yaml):",
        (
            Example(
                "curl {data}/tasks", "a guest gets []: tasks belong to organisations, sign in to see yours"
            ),
            Example("curl {data}/posts", "a guest gets the published posts"),
            Example(
                f'curl {BEARER} {JSON} \\\n  -d \'{{"title": "try rowgate", "priority": 2}}\' {{data}}/tasks',
                "201 with the new row",
            ),
            Example(
                f'curl {BEARER} "{{data}}/tasks?priority=gte.1&order=priority.desc"',
                "your organisation's tasks",
            ),
            Example(
                f"curl {BEARER} {JSON} \\\n"
                """  -d '{"sql": "SELECT title FROM tasks WHERE priority >= $1", "params": [1]}' {sql}""",
                "SQL, rewritten to the same rows",
            ),
        ),
        shown="demo",
    ),
)


def _shown(shown: Shown, settings: Settings, demo: bool) -> bool:
    return shown == "always" or (shown == "demo" and demo) or (shown == "metrics" and settings.server.metrics)


def _lines(example: Example, url: str, settings: Settings) -> list[str]:
    mounts = settings.mounts
    command = example.command
    for name, value in (("auth", mounts.auth), ("data", mounts.data), ("sql", mounts.sql), ("url", "")):
        command = command.replace("{" + name + "}", url + value)
    lines = command.split("\n")
    if example.comment:
        lines[-1] += f"   # {example.comment}"
    return lines


def sections(settings: Settings, url: str, demo: bool) -> list[tuple[str, list[str]]]:
    """(title, command lines) for each group shown with these settings."""
    found = []
    for group in GROUPS:
        if _shown(group.shown, settings, demo):
            lines = [
                line
                for example in group.examples
                if _shown(example.shown, settings, demo)
                for line in _lines(example, url, settings)
            ]
            found.append((group.title, lines))
    return found


def banner_text(settings: Settings, url: str, demo: bool) -> str:
    """The examples as the banner prints them: titles, commands indented by two spaces."""
    return "".join(
        title + "\n" + "".join(f"  {line}\n" for line in lines)
        for title, lines in sections(settings, url, demo)
    )


def readme_text(settings: Settings) -> str:
    """The examples as the README's shell block holds them, for ``rowgate demo``'s default URL."""
    return "\n".join(
        f"# {title}\n" + "".join(f"{line}\n" for line in lines)
        for title, lines in sections(settings, README_URL, demo=True)
    )


if __name__ == "__main__":
    from rowgate.config import load_settings

    print(readme_text(load_settings(None)), end="")
