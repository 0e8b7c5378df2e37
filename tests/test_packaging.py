"""The distribution installs one import name, ``rowgate``, and nothing generic beside it."""

from __future__ import annotations

import ast
import importlib.metadata
from pathlib import Path

import rowgate

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("config", "auth", "rls", "proxy")


def test_the_distribution_installs_only_the_rowgate_package() -> None:
    distribution = importlib.metadata.distribution("rowgate")

    assert (distribution.read_text("top_level.txt") or "").split() == ["rowgate"]
    assert {ep.value for ep in distribution.entry_points if ep.name == "rowgate"} == {
        "rowgate.proxy.cli:main"
    }


def test_each_part_is_the_folder_of_the_same_name() -> None:
    package = Path(rowgate.__file__).parent
    for part in PARTS:
        assert (package / part).resolve() == ROOT / part


def _imports(*files: Path) -> set[str]:
    found: set[str] = set()
    for file in files:
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
    return found


def test_the_engine_imports_only_itself_and_the_error_tree_and_yaml_reader_of_rowgate() -> None:
    ours = {name for name in _imports(*(ROOT / "rls").rglob("*.py")) if name.split(".")[0] == "rowgate"}

    assert {name for name in ours if not name.startswith("rowgate.rls")} == {
        "rowgate.errors",
        "rowgate.yamlfile",
    }


def test_the_error_tree_knows_nothing_of_http() -> None:
    assert (
        _imports(ROOT / "rowgate" / "__init__.py", ROOT / "rowgate" / "errors.py")
        - {"__future__", "collections.abc", "typing"}
        == set()
    )


def test_the_yaml_reader_needs_only_the_error_tree_and_pyyaml() -> None:
    assert _imports(ROOT / "rowgate" / "yamlfile.py") == {
        "__future__",
        "pathlib",
        "typing",
        "rowgate.errors",
        "yaml",
    }
