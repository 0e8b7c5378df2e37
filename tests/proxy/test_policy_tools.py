"""``rowgate policy ...`` as a newcomer runs it: the README's commands, with a database given,
configured, or the embedded one of a running ``rowgate demo``; and without one, what each
command says it skipped or needs."""

from __future__ import annotations

import asyncio
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rowgate.proxy.data.demo import create_demo_tables
from rowgate.proxy.policy_database import running_embedded_url
from tests import clikit

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def readme_explain() -> list[str]:
    """The README's ``rowgate policy explain --as user ...`` line, as its arguments."""
    [line] = re.findall(r"^rowgate (policy explain --as user .*)$", README.read_text(encoding="utf-8"), re.M)
    return shlex.split(line)


#: The README's explain line (placeholders T and U for the tenant and the user).
EXPLAIN = readme_explain()


def rowgate(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``rowgate *args`` run in this process (``tests.clikit``): what it prints and returns."""
    return clikit.run(*args, cwd=cwd, env=env)


def readme_cases() -> str:
    """The README's example cases file."""
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    [cases] = [block for block in blocks if block.startswith("cases:")]
    return str(cases)


@pytest.mark.parametrize("command", ["check", "explain", "test", "export"])
def test_every_policy_command_takes_a_database_url(command: str) -> None:
    result = rowgate("policy", command, "--help", cwd=ROOT)
    assert result.returncode == 0
    assert "--database-url URL" in result.stdout


def test_policy_test_help_shows_the_readme_cases_file() -> None:
    result = rowgate("policy", "test", "--help", cwd=ROOT)
    assert result.returncode == 0
    assert readme_cases() in result.stdout


def test_without_a_database_check_says_it_skipped_the_comparison_and_why(tmp_path: Path) -> None:
    result = rowgate("policy", "check", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == (
        "database comparison SKIPPED: no --database-url, database.url is not set, and no embedded "
        f"PostgreSQL runs in {tmp_path}/.rowgate/postgres (`rowgate demo` in this folder starts one). "
        "Pass --database-url URL to check that the tables and columns the policies name exist."
    )


def test_without_a_database_test_says_what_to_pass(tmp_path: Path) -> None:
    (tmp_path / "cases.yaml").write_text(readme_cases())

    result = rowgate("policy", "test", "cases.yaml", cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr.startswith("policy test runs its cases in a database, and there is none: no ")
    assert result.stderr.endswith(
        "Pass --database-url URL (or set database.url, or run `rowgate demo` in this folder).\n"
    )


def test_without_a_database_explain_says_what_to_pass(tmp_path: Path) -> None:
    result = rowgate(*EXPLAIN, cwd=tmp_path)

    assert result.returncode == 1
    assert 'the columns of table "tasks" are unknown' in result.stderr
    assert "pass --database-url URL so that rowgate can read the tables and their columns" in result.stderr


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        (None, "file not found (give the cases file as the argument: rowgate policy test FILE; "),
        ("cases:\n  - name: [x\n", "invalid YAML at line 3"),
        (
            "cases:\n  - {name: x, as: {groups: [user]}, sql: SELECT 1, expct: {rows: []}}\n",
            "cases[0].expct: unknown key",
        ),
        ("- name: x\n", "expected a mapping of settings at the top level, got list"),
    ],
    ids=["missing", "malformed YAML", "unknown key", "not a mapping"],
)
def test_a_bad_cases_file_is_named_with_what_is_wrong(
    tmp_path: Path, text: str | None, sentence: str
) -> None:
    cases = tmp_path / "cases.yaml"
    if text is not None:
        cases.write_text(text)

    result = rowgate("policy", "test", str(cases), cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr.startswith(f"{cases}: {sentence}")
    assert "--config" not in result.stderr
    assert "Traceback" not in result.stderr


def test_a_database_that_is_not_there_is_a_sentence(tmp_path: Path) -> None:
    from tests.proxy.test_cli import free_port

    url = f"postgresql://postgres@127.0.0.1:{free_port()}/none"
    result = rowgate("policy", "check", "--database-url", url, cwd=tmp_path)

    assert result.returncode == 1
    assert result.stderr.startswith("policy check: the database (--database-url) failed: ")
    assert "Traceback" not in result.stderr


def test_a_stale_embedded_database_is_not_used(tmp_path: Path) -> None:
    assert running_embedded_url(tmp_path) is None
    (tmp_path / "postmaster.pid").write_text(f"4194303\n{tmp_path}\n0\n5432\n{tmp_path}\n\n0 0\nready\n")
    assert running_embedded_url(tmp_path) is None  # no such process
    (tmp_path / "postmaster.pid").write_text("12\n")
    assert running_embedded_url(tmp_path) is None  # half written


@pytest.mark.integration
def test_the_readme_commands_work_with_a_database_url(fresh_database: str, tmp_path: Path) -> None:
    asyncio.run(create_demo_tables(fresh_database))
    (tmp_path / "cases.yaml").write_text(readme_cases())
    flag = ["--database-url", fresh_database]

    explained = rowgate(*EXPLAIN, *flag, cwd=tmp_path)
    checked = rowgate("policy", "check", *flag, cwd=tmp_path)
    tested = rowgate("policy", "test", *flag, "cases.yaml", cwd=tmp_path)

    assert explained.returncode == 0, explained.stderr
    assert 'FROM "public"."tasks"' in explained.stdout
    assert "-- public.tasks AS tasks: select by [user]: org_id = <tenant>; hidden: internal_notes" in (
        explained.stdout
    )
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.splitlines()[1] == "compared with the database (--database-url)"
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout.splitlines() == [
        "ok   members see only their organisation's tasks",
        "ok   members cannot delete projects",
        "ok   a member adds a task to their organisation",
        "3 passed, 0 failed",
    ]


@pytest.mark.integration
def test_the_configured_database_is_used_and_missing_tables_are_named(
    fresh_database: str, tmp_path: Path
) -> None:
    checked = rowgate("policy", "check", cwd=tmp_path, env={"ROWGATE_DATABASE_URL": fresh_database})

    assert checked.returncode == 1
    assert checked.stdout.splitlines()[1] == "compared with the database (database.url of the configuration)"
    shipped = ROOT / "config" / "policies.yaml"
    assert checked.stderr.splitlines() == [
        f"{shipped}: tables.public.{name}: the database has no such table"
        for name in ("projects", "tasks", "posts")
    ]


@pytest.mark.integration
@pytest.mark.slow
def test_the_policy_tools_use_the_embedded_database_of_a_running_demo(tmp_path: Path) -> None:
    """The quick start: `rowgate demo` in one terminal, the README's policy commands in another."""
    from tests.proxy.test_cli import free_port, wait_for

    port = free_port()
    demo = subprocess.Popen(
        [sys.executable, "-m", "rowgate.proxy", "demo", "--port", str(port), "--app-port", str(free_port())],
        cwd=tmp_path,
        env=clikit.environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", 90)
        explained = rowgate(*EXPLAIN, cwd=tmp_path)
        checked = rowgate("policy", "check", cwd=tmp_path)
    finally:
        demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=60)

    assert explained.returncode == 0, explained.stderr
    assert 'FROM "public"."tasks"' in explained.stdout
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.splitlines()[1] == (
        f"compared with the database (the embedded PostgreSQL in {tmp_path}/.rowgate/postgres)"
    )
