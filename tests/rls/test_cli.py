"""``rowgate policy check|explain|test|export``, run through ``proxy.data.policy_cli.main``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from rowgate.proxy.data.policy_cli import main
from tests.rls import world
from tests.rls.conftest import World

POLICIES = str(world.POLICIES_FILE)
#: The test policies under the configuration that declares the custom role they name.
CONFIGURED = ["--config", str(world.DATA / "rowgate.yaml"), "--policies", POLICIES]
USER_A = ["--as", "user", "--tenant", world.ORG_A, "--user", world.USER_A]


def test_check_validates_without_a_database(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", *CONFIGURED]) == 0
    assert "4 table(s)" in capsys.readouterr().out


def test_check_names_every_problem_of_an_invalid_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("tables:\n  tasks: {select: [owner]}\n  pg_class: {}\n")

    assert main(["policy", "check", "--policies", str(bad)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{bad}: tables.tasks.select[0]: expected admin, user, self, guest or role:<role name>, got 'owner'"
    ]


def test_check_refuses_a_table_whose_writes_reach_every_tenant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The shipped ``posts`` as it was: the admin of any organisation edited everyone's posts."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "defaults: {tenant_column: org_id, owner_column: created_by}\n"
        "tables:\n  posts:\n    tenant_column: null\n    select: [admin, user, guest]\n"
        "    insert: [admin, user]\n    update: [admin, self]\n    delete: [admin]\n"
    )

    assert main(["policy", "check", "--policies", str(bad)]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert [line.split(": the table")[0] for line in errors] == [
        f"{bad}: tables.posts.{op}" for op in ("insert", "update", "delete")
    ]
    assert all("shared: true" in line for line in errors)


def test_the_policies_default_to_the_ones_the_config_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "mine.yaml").write_text("tables:\n  things: {select: [user]}\n")
    config = tmp_path / "rowgate.yaml"
    config.write_text("policies: mine.yaml\n")

    assert main(["--database-url", "", "policy", "check", "--config", str(config)]) == 0
    assert f"{tmp_path / 'mine.yaml'}: 1 table(s)" in capsys.readouterr().out


def test_explain_without_a_database_says_how_to_get_the_columns(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--database-url", "", "policy", "explain", *CONFIGURED, *USER_A, "SELECT 1 FROM tasks"])

    assert code == 1
    assert "pass --database-url" in capsys.readouterr().err


@pytest.mark.integration
def test_explain_with_a_database(built: World, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "--database-url",
            built.url,
            "policy",
            "explain",
            *CONFIGURED,
            *USER_A,
            "SELECT * FROM tasks t",
        ]
    )

    out = capsys.readouterr().out
    assert code == 0
    assert '"public"."tasks"' in out
    assert f"-- $1 = '{world.ORG_A}'" in out
    assert (
        "-- public.tasks AS t: select by [user]: org_id = <tenant> AND (priority < 5); hidden: internal_notes"
        in out
    )


@pytest.mark.integration
def test_explain_of_a_refused_statement_exits_non_zero(
    built: World, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "--database-url",
            built.url,
            "policy",
            "explain",
            *CONFIGURED,
            *USER_A,
            "SELECT * FROM payroll",
        ]
    )

    assert code == 1
    assert capsys.readouterr().err.strip() == 'refused (table_not_allowed): table "payroll" has no policy'


@pytest.mark.integration
def test_check_lists_tables_without_policy_and_columns_the_rules_miss(
    built: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--database-url", built.url, "policy", "check", *CONFIGURED]) == 0
    assert "no policy (every statement on it is refused): public.payroll" in capsys.readouterr().out

    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(
        "tables:\n  tasks: {tenant_column: tenant, select: [user]}\n  ghosts: {select: [user]}\n"
    )
    assert main(["--database-url", built.url, "policy", "check", "--policies", str(wrong)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"{wrong}: tables.public.tasks: the rules name columns the table does not have: ['tenant']",
        f"{wrong}: tables.public.ghosts: the database has no such table",
    ]


@pytest.mark.integration
def test_test_runs_cases_and_fails_on_any_failure(
    built: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    own = sorted(r[0] for r in world.seed_rows()["notes"] if r[2] == world.USER_A)
    cases = tmp_path / "cases.yaml"
    cases.write_text(
        f"""
cases:
  - name: notes are the caller's own
    as: {{groups: [user], tenant: {world.ORG_A}, user: {world.USER_A}}}
    sql: SELECT id FROM notes ORDER BY id
    expect: {{rows: {[[i] for i in own]}}}
  - name: members may not delete projects
    as: {{groups: [user], tenant: {world.ORG_A}, user: {world.USER_A}}}
    sql: DELETE FROM projects
    expect: {{refused: operation_not_allowed}}
  - name: an insert with a parameter
    as: {{groups: [user], tenant: {world.ORG_A}, user: {world.USER_A}}}
    sql: INSERT INTO notes (id, body) VALUES ($1, 'hi')
    params: [700]
    expect: {{rowcount: 1}}
  - name: a wrong expectation
    as: {{groups: [guest]}}
    sql: SELECT id FROM notes
    expect: {{rows: [[1]]}}
"""
    )

    code = main(["--database-url", built.url, "policy", "test", *CONFIGURED, str(cases)])

    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    assert lines == [
        "ok   notes are the caller's own",
        "ok   members may not delete projects",
        "ok   an insert with a parameter",
        "FAIL a wrong expectation: expected rows [[1]], got []",
        "3 passed, 1 failed",
    ]
    assert asyncio.run(_count(built.url, "SELECT count(*) FROM notes WHERE id = 700")) == 0  # rolled back


async def _count(url: str, sql: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


def test_export_prints_native_policies(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--database-url", "", "policy", "export", *CONFIGURED, "--format", "postgres"]) == 0

    out = capsys.readouterr().out
    assert 'ALTER TABLE "public"."tasks" ENABLE ROW LEVEL SECURITY;' in out
    assert 'CREATE POLICY "rowgate_notes_select_self_' in out
    assert "(SELECT current_setting('rowgate.policy', true)) = '" in out
    assert "\"created_by\"::text = (SELECT NULLIF(current_setting('rowgate.user_id', true), ''))" in out


def test_export_names_the_data_role_and_sql_needs_a_database(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--database-url", "", "policy", "export", *CONFIGURED]) == 0
    out = capsys.readouterr().out
    assert 'CREATE ROLE "rowgate_data" NOLOGIN;' in out
    assert '-- and: GRANT "rowgate_data" TO <the role rowgate connects as>;' in out

    assert main(["--database-url", "", "policy", "export", *CONFIGURED, "--data-role", "app_rows"]) == 0
    out = capsys.readouterr().out
    assert 'CREATE ROLE "app_rows" NOLOGIN;' in out
    assert "rowgate_data" not in out

    assert main(["--database-url", "", "policy", "export", "--sql", *CONFIGURED]) == 2
    assert "policy export --sql reads the database" in capsys.readouterr().err


def test_export_sql_says_what_a_database_still_needs(
    built: World, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--database-url", built.url, "policy", "export", "--sql", *CONFIGURED]
    args += ["--data-role", built.role]
    assert main(args) == 0
    script = capsys.readouterr().out
    assert "NEEDS YOUR ATTENTION" not in script
    asyncio.run(_execute(built.url, script))

    assert main(args) == 0
    assert capsys.readouterr().out.startswith("-- This database has all of it already")


async def _execute(url: str, script: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(script)
    finally:
        await conn.close()
