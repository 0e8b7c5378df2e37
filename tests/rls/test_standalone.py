"""The RLS engine stands alone: with only sqlglot installed, ``rowgate.rls`` compiles a policy
given as a mapping and confines a query to its caller's tenant."""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rowgate.config.tenancy import ROLE_NAME
from rowgate.rls.policy_file import ROLE_NAME as POLICY_ROLE_NAME

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = """
import json, sys
from rowgate.rls.errors import QueryRefused
from rowgate.rls.policy import parse_policies
from rowgate.rls.rewrite import Rewriter
from rowgate.rls.subject import Subject

policies = parse_policies({"tables": {"tasks": {"tenant_column": "org_id", "select": ["user"]}}})
rewriter = Rewriter(policies, "postgres", schema={"tasks": ["id", "org_id", "title"]})
caller = Subject("u-1", "org-a", frozenset({"user"}))
rewritten = rewriter.rewrite("SELECT title FROM tasks WHERE id = $1", caller, params_count=1)
try:
    rewriter.rewrite("DROP TABLE tasks", caller)
    refused = None
except QueryRefused as error:
    refused = error.code
loaded = sorted({name.split(".")[0] for name in sys.modules} & {"yaml", "pydantic", "asyncpg", "aiohttp"})
print(json.dumps({"sql": rewritten.sql, "params": rewritten.params, "refused": refused, "loaded": loaded}))
"""


def _copy_engine(target: Path) -> None:
    package = target / "rowgate"
    package.mkdir(parents=True)
    for name in ("__init__.py", "errors.py", "yamlfile.py"):
        shutil.copy(ROOT / "rowgate" / name, package / name)
    shutil.copytree(ROOT / "rls", package / "rls", ignore=shutil.ignore_patterns("__pycache__"))


@pytest.mark.slow
def test_the_engine_runs_with_only_sqlglot_installed(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    sqlglot = f"sqlglot=={importlib.metadata.version('sqlglot')}"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", sqlglot]
    subprocess.run(pip, check=True, timeout=300)
    _copy_engine(tmp_path / "src")

    ran = subprocess.run(
        [str(python), "-s", "-c", PROGRAM],
        cwd=tmp_path / "src",
        capture_output=True,
        text=True,
        timeout=120,
        env={},  # no PYTHONPATH: only the copy in the working directory and the venv
    )

    assert ran.returncode == 0, ran.stderr
    answer = json.loads(ran.stdout)
    assert answer == {
        "sql": 'SELECT "title" FROM (SELECT "id", "org_id", "title" FROM "public"."tasks" '
        'WHERE "tasks"."org_id" = $2 AND "tasks"."id" = $1 OFFSET 0) AS "tasks"',
        "params": ["org-a"],
        "refused": "statement_not_allowed",
        "loaded": [],
    }


def test_the_engine_spells_role_names_as_the_settings_do() -> None:
    assert POLICY_ROLE_NAME.pattern == ROLE_NAME.pattern
