"""``rowgate policy ...`` is wired into the rowgate command (the commands themselves are the RLS
engine's, tested with it)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from rowgate.proxy.cli import main
from tests.data import world

#: The test policies under the configuration that declares the custom role they name.
CONFIG = str(world.DATA / "rowgate.yaml")


def test_policy_check_runs_from_the_rowgate_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", "--config", CONFIG]) == 0
    assert "3 table(s)" in capsys.readouterr().out


def test_a_role_the_configuration_does_not_know_is_a_policy_error(capsys: pytest.CaptureFixture[str]) -> None:
    # the bundled configuration declares no custom role for policies (rbac.policy_roles)
    assert main(["policy", "check", "--policies", str(world.POLICIES)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{world.POLICIES}: tables.tasks.update[2]: expected a role of rbac.roles or rbac.policy_roles "
        "(custom roles a policy names are declared there), got 'role:editor'"
    ]


def test_explain_role_shows_what_a_built_in_role_gets_on_every_table(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["policy", "explain", "--config", CONFIG, "--role", "viewer"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "role viewer (built-in): *:read"
    assert "  select  tasks:read                   held     rows: org_id = <tenant>" in out
    assert (
        "  update  tasks:update                 missing  rows: org_id = <tenant> AND (created_by = <user>)"
        in out
    )


@pytest.mark.integration
def test_explain_role_reads_an_organisations_custom_role_and_checks_a_statement(
    capsys: pytest.CaptureFixture[str], world_database: str, tmp_path: Path
) -> None:
    async def create_role() -> None:
        conn = await asyncpg.connect(world_database)
        try:
            await conn.execute("INSERT INTO rowgate.orgs (id, name) VALUES ($1, 'A')", world.ORG_A)
            await conn.execute(
                "INSERT INTO rowgate.custom_roles (org_id, name, permissions) VALUES ($1, 'editor', $2)",
                world.ORG_A,
                ["tasks:update"],
            )
        finally:
            await conn.close()

    asyncio.run(create_role())
    config = tmp_path / "rowgate.yaml"
    lines = [
        f"policies: {world.POLICIES}",
        f"database: {{url: '{world_database}'}}",
        "rbac: {policy_roles: [editor]}",
    ]
    config.write_text("\n".join(lines) + "\n")
    editor = ["policy", "explain", "--config", str(config), "--role", "editor", "--tenant", world.ORG_A]
    assert main(editor) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"role editor (custom role of organisation {world.ORG_A}): tasks:update"
    assert "as groups [role:editor, user] (and self, with a user id)" in out
    assert "  update  tasks:update                 held     rows: org_id = <tenant>" in out

    assert (
        main(
            [
                *editor,
                "--user",
                world.USER_A2,
                "UPDATE tasks SET done = true WHERE id IN (SELECT id FROM tasks)",
            ]
        )
        == 1
    )
    out = capsys.readouterr().out.splitlines()
    assert out[-2:] == [
        "-- needs: tasks:read, tasks:update",
        "-- role editor lacks tasks:read: refused (permission_denied)",
    ]
    assert main([*editor, "--user", world.USER_A2, "UPDATE tasks SET done = true"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "-- role editor holds tasks:update"


@pytest.mark.integration
def test_policy_explain_shows_the_rewrite(capsys: pytest.CaptureFixture[str], world_database: str) -> None:
    from rowgate.proxy.data.policy_cli import main as rls_main

    code = rls_main(
        [
            "--database-url",
            world_database,
            "policy",
            "explain",
            "--config",
            CONFIG,
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


def test_a_broken_policy_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("tables:\n  tasks:\n    select: [everyone]\n")
    assert main(["policy", "check", "--policies", str(path)]) == 2
    assert "tables.tasks.select" in capsys.readouterr().err
