"""Policy test files (``rowgate policy test FILE``): statements run as given subjects against a
database, with the outcome each must have.  The format, with an example, is ``CASES_FORMAT``
(what ``rowgate policy test --help`` prints, and the README shows).

Every case runs in its own transaction, rolled back afterwards, so cases do not see each
other's writes and the database is left as it was.
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rowgate.config.loader import describe_validation_errors
from rowgate.errors import ConfigError
from rowgate.proxy.data.execute import run
from rowgate.rls.errors import QueryRefused, WriteRefused
from rowgate.rls.rewrite import Rewriter
from rowgate.rls.subject import Subject
from rowgate.yamlfile import read_yaml

#: The format of a cases file, shown by ``rowgate policy test --help``; the README shows the same cases.
CASES_FORMAT = """\
A cases file is YAML: statements, each run as a subject, with the outcome each must have.

cases:
  - name: members see only their organisation's tasks
    as:
      groups: [user]
      tenant: 0a000000-0000-0000-0000-000000000001
      user: a0000000-0000-0000-0000-000000000001
    sql: SELECT title FROM tasks WHERE done
    expect: {rows: []}                       # exactly these rows, in order
  - name: members cannot delete projects
    as: {groups: [user], tenant: 0a000000-0000-0000-0000-000000000001}
    sql: DELETE FROM projects
    expect: {refused: operation_not_allowed} # a refusal code, or true for any refusal
  - name: a member adds a task to their organisation
    as: {groups: [user], tenant: 0a000000-0000-0000-0000-000000000001}
    sql: INSERT INTO tasks (title) VALUES ($1)
    params: [try rowgate]                    # the values of $1, $2, ...
    expect: {rowcount: 1}                    # rows written

as: groups (admin, user, guest; self applies with a user id; role:NAME), tenant, user, role.
expect: rows, rowcount or refused; without expect, the statement must run.  Each case runs in
a transaction of its own that is rolled back: the database is left as it was.  The exit code
is 1 when a case fails.
"""

#: How to name the cases file, said when it is missing.
NAME_THE_CASES_FILE = (
    "give the cases file as the argument: rowgate policy test FILE; "
    "`rowgate policy test --help` shows its format"
)

FORMAT_HINT = "`rowgate policy test --help` shows the format of a cases file"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CaseSubject(_Model):
    groups: tuple[str, ...] = ()
    tenant: str | None = None
    user: str | None = None
    role: str | None = None

    def subject(self) -> Subject:
        """The ``Subject`` this describes."""
        return Subject(self.user, self.tenant, frozenset(self.groups), self.role)


class Expectation(_Model):
    refused: bool | str = False
    rows: list[list[Any]] | None = None
    rowcount: int | None = None


class PolicyCase(_Model):
    name: str
    subject: CaseSubject = Field(alias="as")
    sql: str
    params: list[Any] = []
    expect: Expectation = Expectation()


class CaseFile(_Model):
    cases: list[PolicyCase]


@dataclass(frozen=True)
class Verdict:
    """How one case went: passed, or why not."""

    name: str
    passed: bool
    detail: str = ""


def load_cases(path: str | Path) -> list[PolicyCase]:
    """Read and validate a test file; a ``ConfigError`` names every problem."""
    file = Path(path)
    try:
        parsed = CaseFile.model_validate(read_yaml(file, missing=NAME_THE_CASES_FILE))
    except ValidationError as exc:
        lines = [*describe_validation_errors(exc), FORMAT_HINT]
        raise ConfigError([f"{file}: {line}" for line in lines]) from None
    problems = []
    for index, case in enumerate(parsed.cases):
        try:
            case.subject.subject()
        except (TypeError, ValueError) as exc:
            problems.append(f"{file}: cases[{index}].as: {exc}")
    if problems:
        raise ConfigError(problems)
    return parsed.cases


async def run_cases(
    conn: asyncpg.Connection, rewriter: Rewriter, cases: Sequence[PolicyCase]
) -> list[Verdict]:
    """Run every case in a transaction of its own (rolled back) and judge it."""
    verdicts = []
    for case in cases:
        transaction = conn.transaction()
        await transaction.start()
        try:
            verdicts.append(await _judge(conn, rewriter, case))
        finally:
            await transaction.rollback()
    return verdicts


async def _judge(conn: asyncpg.Connection, rewriter: Rewriter, case: PolicyCase) -> Verdict:
    subject = case.subject.subject()
    expected = case.expect
    try:
        rewritten = rewriter.rewrite(case.sql, subject, len(case.params))
        result = await run(conn, rewritten, subject, case.params)
    except (QueryRefused, WriteRefused) as error:
        wanted = expected.refused
        if wanted is True or wanted == error.code:
            return Verdict(case.name, True)
        return Verdict(case.name, False, f"refused ({error.code}): {error.detail}")
    except asyncpg.PostgresError as error:
        return Verdict(case.name, False, f"the database failed: {error.sqlstate} {error}")
    if expected.refused:
        return Verdict(case.name, False, f"expected a refusal ({expected.refused}), but it ran")
    rows = [[_plain(v) for v in row.values()] for row in result.rows]
    if expected.rows is not None and rows != [[_plain(v) for v in row] for row in expected.rows]:
        return Verdict(case.name, False, f"expected rows {expected.rows}, got {rows}")
    if expected.rowcount is not None and result.rowcount != expected.rowcount:
        return Verdict(
            case.name, False, f"expected {expected.rowcount} row(s) affected, got {result.rowcount}"
        )
    return Verdict(case.name, True)


def _plain(value: Any) -> Any:
    """A value as YAML would write it: numbers, booleans, null, and text for everything else."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return str(value)
