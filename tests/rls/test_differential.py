"""The differential test: rowgate's rewriting against PostgreSQL's own row security.

1,000 generated statements (``tests.rls.corpus``) run for every test subject twice, each time in
a transaction that is rolled back: (a) rewritten by rowgate and run by the table owner (a
superuser, whom native policies never touch), (b) unmodified, as a role that does not own the
tables, under the policies ``rls.export`` produces (with FORCE ROW LEVEL SECURITY).  Both runs
must agree on the rows returned, the rows affected, the state of every table afterwards, and on
failing: a write refused natively must be refused by rowgate, and a condition that fails
natively (on a row the caller can see) must fail the same way.  Writes that name an owner (the
owner rule of ``rls.owners``, a trigger natively) are part of the corpus and must be refused alike.

One deliberate difference is normalised: rowgate refuses a write the caller has no grant for
(``operation_not_allowed``), where PostgreSQL quietly touches no row when the statement finds
none to write (an UPDATE or DELETE, or an INSERT ... SELECT that selects nothing).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import asyncpg
import pytest

from config.errors import QueryRefused, WriteRefused
from rls.export import export_postgres
from rls.policy import PolicySet
from rls.raising import MARKER
from rls.rewrite import Rewriter
from rls.subject import Subject
from tests.rls import corpus, world
from tests.rls.conftest import World
from tests.rls.outcomes import OWNER_FORGED_AS_IT_RUNS, Outcome, execute

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Another seed or a bigger corpus, for a longer hunt: RLS_DIFFERENTIAL_SEED, RLS_DIFFERENTIAL_COUNT.
SEED = int(os.environ.get("RLS_DIFFERENTIAL_SEED", "20260601"))
COUNT = max(1000, int(os.environ.get("RLS_DIFFERENTIAL_COUNT", "1000")))


@dataclass
class Mismatch:
    sql: str
    subject: str
    rewritten: Outcome
    native: Outcome


async def test_rewriting_matches_native_row_security(
    built: World, rewriter: Rewriter, policies: PolicySet
) -> None:
    await built.conn.execute(export_postgres(policies, world.world_schema()))
    statements = corpus.corpus(SEED, COUNT)
    mismatches: list[Mismatch] = []
    seen: set[str] = set()
    for sql in statements:
        for name, subject in world.SUBJECTS.items():
            ours = await _rewritten(built.conn, rewriter, sql, subject)
            native = await _native(built.conn, built.role, sql, subject)
            seen.add(_category(sql, ours))
            if not _same(sql, ours, native):
                mismatches.append(Mismatch(sql, name, ours, native))
    assert not mismatches, _report(mismatches)
    assert len(statements) == COUNT
    assert seen >= CATEGORIES, CATEGORIES - seen


#: What the corpus must have exercised, with both sides agreeing.
CATEGORIES = {
    "read returning rows",
    "read of no visible row",
    "failing condition on rows the caller cannot see: no error",
    "failing condition on rows the caller can see: error",
    "upsert refused",
    "insert refused",
    "update refused",
    "write denied",
    "write done",
    "insert checked as it runs: done",
    "insert checked as it runs: refused",
    "update checked as it runs: done",
    "update checked as it runs: refused",
    "owner forged: refused",
    "owner forged: refused as it ran",
}


def _category(sql: str, ours: Outcome) -> str:
    statement = sql.lstrip().split()[0].upper()
    failing = "CAST(" in sql or "1 / (" in sql
    if ours[-1] in (OWNER_FORGED, OWNER_FORGED_AS_IT_RUNS):
        return ours[-1]
    if ours[0] in ("ok", "refused") and ours[-1] == CHECKED_AS_IT_RUNS:
        return f"{statement.lower()} checked as it runs: " + ("done" if ours[0] == "ok" else "refused")
    if ours[0] == "denied":
        return "write denied"
    if ours[0] == "refused":
        return "upsert refused" if "DO UPDATE" in sql else f"{statement.lower()} refused"
    if ours[0] == "error":
        return "failing condition on rows the caller can see: error" if failing else "other error"
    if statement not in ("SELECT", "WITH", "TABLE"):
        return "write done"
    if failing:
        return "failing condition on rows the caller cannot see: no error"
    return "read returning rows" if ours[1] else "read of no visible row"


#: Marks (last in the outcome, ignored by the comparison) a statement whose new rows the
#: database checked as they were written (rowgate could not prove them statically).
CHECKED_AS_IT_RUNS = "checked as it runs"
#: Mark a statement rowgate refused for naming another owner, before or as it ran.
OWNER_FORGED = "owner forged: refused"
_MARKERS = (CHECKED_AS_IT_RUNS, OWNER_FORGED, OWNER_FORGED_AS_IT_RUNS)


async def _rewritten(conn: asyncpg.Connection, rewriter: Rewriter, sql: str, subject: Subject) -> Outcome:
    try:
        rewritten = rewriter.rewrite(sql, subject)
    except WriteRefused as error:
        if error.code == "operation_not_allowed":
            return ("denied",)
        return ("refused", OWNER_FORGED) if "another owner" in error.detail else ("refused",)
    except QueryRefused as error:
        return ("query_refused", error.detail)
    outcome = await execute(conn, rewritten.sql, rewritten.params, subject, None, rewritten.discard_rows)
    if outcome == ("refused", OWNER_FORGED_AS_IT_RUNS):
        return outcome
    checked = MARKER in rewritten.sql and (
        (rewritten.kind == "insert" and " RETURNING " in rewritten.sql) or corpus.computed_update(sql)
    )
    return (*outcome, CHECKED_AS_IT_RUNS) if checked else outcome


async def _native(conn: asyncpg.Connection, role: str, sql: str, subject: Subject) -> Outcome:
    return await execute(conn, sql, (), subject, role)


def _same(sql: str, ours: Outcome, native: Outcome) -> bool:
    if ours[-1] in _MARKERS:
        ours = ours[:-1]
    if ours == native:
        return True
    if ours == ("denied",):
        if native == ("refused",):
            return True
        return native[0] == "ok" and native[2] == "0" and not native[1]
    return False


def _report(mismatches: list[Mismatch]) -> str:
    lines = [f"{len(mismatches)} mismatches; the first ones:"]
    for m in mismatches[:8]:
        lines.append(f"- as {m.subject}: {m.sql}")
        lines.append(f"    rowgate: {str(m.rewritten)[:300]}\n    native:  {str(m.native)[:300]}")
    return "\n".join(lines)
