"""``rowgate policy ...`` is wired into the rowgate command (the commands themselves are the RLS
engine's, tested with it)."""

from __future__ import annotations

import pytest

from proxy.cli import main
from tests.data import world


def test_policy_check_runs_from_the_rowgate_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", "--policies", str(world.POLICIES)]) == 0
    assert "3 table(s)" in capsys.readouterr().out


@pytest.mark.integration
def test_policy_explain_shows_the_rewrite(capsys: pytest.CaptureFixture[str], world_database: str) -> None:
    from rls.cli import main as rls_main

    code = rls_main(
        [
            "--database-url",
            world_database,
            "policy",
            "explain",
            "--policies",
            str(world.POLICIES),
            "--as",
            "user",
            "--tenant",
            world.ORG_A,
            "--user",
            world.USER_A,
            "SELECT title FROM tasks",
        ]
    )
    assert code == 0
    assert '"org_id"' in capsys.readouterr().out


def test_a_broken_policy_file_exits_2(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "broken.yaml"
    path.write_text("tables:\n  tasks:\n    select: [everyone]\n")
    assert main(["policy", "check", "--policies", str(path)]) == 2
    assert "tables.tasks.select" in capsys.readouterr().err
