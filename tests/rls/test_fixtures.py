"""The rewrite rules, by example: fixture files of input and expected SQL.

Each file in ``fixtures/`` holds blocks separated by blank lines::

    # title: what the example shows
    # as: user_a                   (a subject of tests.rls.world)
    # params: 1                    (optional: how many parameters the caller binds)
    SELECT ...                     (the input, one line)
    SELECT ...                     (the expected output, one line, or "refused <code>: <detail>")
    # bound: tenant user           (rowgate's parameters, by the subject value they carry)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from rowgate.rls.errors import QueryRefused, WriteRefused
from rowgate.rls.rewrite import Rewriter
from tests.rls import world

FIXTURES = Path(__file__).with_name("fixtures")


@dataclass(frozen=True)
class Example:
    file: str
    title: str
    subject: str
    params: int
    sql: str
    expected: str
    bound: str


def parse_file(name: str) -> list[Example]:
    """The examples of one fixture file (expected output empty when not written yet)."""
    examples = []
    for block in (FIXTURES / name).read_text().strip().split("\n\n"):
        meta: dict[str, str] = {}
        lines = []
        for line in block.strip().splitlines():
            if line.startswith("# "):
                key, _, value = line[2:].partition(":")
                meta[key.strip()] = value.strip()
            else:
                lines.append(line)
        examples.append(
            Example(
                name,
                meta["title"],
                meta["as"],
                int(meta.get("params", "0")),
                lines[0],
                lines[1] if len(lines) > 1 else "",
                meta.get("bound", ""),
            )
        )
    return examples


def rewrite(example: Example, rewriter: Rewriter) -> tuple[str, str]:
    """The output line and the ``bound`` line for an example."""
    subject = world.SUBJECTS[example.subject]
    try:
        rewritten = rewriter.rewrite(example.sql, subject, example.params)
    except (QueryRefused, WriteRefused) as error:
        return f"refused {error.code}: {error.detail}", ""
    names = {subject.tenant_id: "tenant", subject.user_id: "user"}
    return rewritten.sql, " ".join(names[value] for value in rewritten.params)


def render_file(name: str, write: bool = False) -> str:
    """The fixture file with every expected output computed (written back when ``write``)."""
    rewriter = Rewriter(world.world_policies(), "postgres", schema=world.world_schema())
    blocks = []
    for example in parse_file(name):
        output, bound = rewrite(example, rewriter)
        lines = [f"# title: {example.title}", f"# as: {example.subject}"]
        lines += [f"# params: {example.params}"] if example.params else []
        lines += [example.sql, output] + ([f"# bound: {bound}"] if bound else [])
        blocks.append("\n".join(lines))
    text = "\n\n".join(blocks) + "\n"
    if write:
        (FIXTURES / name).write_text(text)
    return text


EXAMPLES = [
    example for name in sorted(p.name for p in FIXTURES.glob("*.sql")) for example in parse_file(name)
]


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"{e.file}: {e.title}" for e in EXAMPLES])
def test_fixture(example: Example, rewriter: Rewriter) -> None:
    output, bound = rewrite(example, rewriter)
    assert output == example.expected
    assert bound == example.bound
