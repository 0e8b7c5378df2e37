"""The distribution installs one import name, ``rowgate``, and nothing generic beside it."""

from __future__ import annotations

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
