"""The documents stay true: every test THREAT_MODEL.md names exists.

In the threat tables' last column, a test is named as ``path.py`` or ``path.py::name`` (paths
relative to ``tests/``; ``loadtests/`` paths relative to the repository), and after one path of a
cell as ``::name`` or plain ``test_name``, a test of that file; parameters (``[...]``) follow.  A
plain ``test_name`` before any path is a test of the section's attack file.  Other spans (attack
case ids, fixture file names, codes) are not test references.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
THREAT_MODEL = ROOT / "THREAT_MODEL.md"
#: Where the tokens section's attack cases and unqualified property tests live.
ATTACKS = "security/test_token_attacks.py"

_PATH = re.compile(r"^(?P<path>[\w/]+\.py)(?:::(?P<name>\w+|\.\.\.))?(?:\[.*\])?(?: \w+)?$")
_NAME = re.compile(r"^(?:::)?(?P<name>test_\w+)(?:\[.*\])?$")


@dataclass(frozen=True)
class Reference:
    line: int
    path: str
    name: str | None

    def __str__(self) -> str:
        return f"THREAT_MODEL.md:{self.line}: {self.path}" + (f"::{self.name}" if self.name else "")


def references() -> list[Reference]:
    """Every test the threat tables name, with the file it is in."""
    found = []
    for number, line in enumerate(THREAT_MODEL.read_text().splitlines(), start=1):
        if not line.startswith("| ") or line.startswith("| threat"):
            continue
        last = None
        for span in re.findall(r"`([^`]+)`", line.rsplit(" | ", 1)[-1]):
            if match := _PATH.match(span):
                last = match["path"]
                name = match["name"] if match["name"] != "..." else None
                found.append(Reference(number, last, name))
            elif match := _NAME.match(span):
                found.append(Reference(number, last or ATTACKS, match["name"]))
    return found


def file_of(path: str) -> Path:
    return ROOT / path if path.startswith("loadtests/") else TESTS / path


@cache
def functions_in(path: Path) -> frozenset[str]:
    tree = ast.parse(path.read_text())
    return frozenset(
        node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    )


def missing(reference: Reference) -> bool:
    path = file_of(reference.path)
    if not path.is_file():
        return True
    return reference.name is not None and reference.name not in functions_in(path)


def test_every_test_the_threat_model_names_exists() -> None:
    named = references()
    assert len(named) > 300  # the reading above still finds the tables' references
    assert [str(reference) for reference in named if missing(reference)] == []
