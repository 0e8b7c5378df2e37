"""``AuditLog.browse``: the dashboard's pages of the audit trail, read both ways (older and newer
positions), never leaving the scope or the filter, equal timestamps included."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from rowgate.auth.admin.audit_log import AuditLog, AuditPage
from rowgate.auth.admin.queries import AuditFilter
from rowgate.auth.db import Database
from rowgate.config.schema import DatabaseSettings
from rowgate.errors import BadRequest

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def db(migrated_database: str) -> AsyncIterator[Database]:
    database = await Database.connect(migrated_database, DatabaseSettings(pool_min_size=0, pool_max_size=2))
    yield database
    await database.close()


async def org(db: Database) -> str:
    return str(await db.fetchval("INSERT INTO rowgate.orgs (name) VALUES ('Acme') RETURNING id"))


async def events(db: Database, org_id: str, count: int, name: str = "signin.succeeded") -> list[int]:
    """``count`` events, two per second (pairs share a timestamp), oldest first; their ids."""
    made = []
    for n in range(count):
        made.append(
            int(
                await db.fetchval(
                    "INSERT INTO rowgate.audit_events (at, event, org_id, ip) VALUES ($1, $2, $3, '')"
                    " RETURNING id",
                    T0 + timedelta(seconds=n // 2),
                    name,
                    org_id,
                )
            )
        )
    return made


def ids(page: AuditPage) -> list[int]:
    return [event.id for event in page.events]


async def test_pages_go_older_and_back_newer_without_gaps_or_repeats(db: Database) -> None:
    mine, other = await org(db), await org(db)
    made = await events(db, mine, 7)
    await events(db, other, 3)
    log, everything = AuditLog(db, ()), AuditFilter()
    newest = list(reversed(made))
    first = await log.browse(mine, everything, 3, None, None)
    assert (ids(first), first.previous) == (newest[:3], None)
    assert first.next is not None
    second = await log.browse(mine, everything, 3, first.next, None)
    assert ids(second) == newest[3:6]
    assert second.next is not None
    assert second.previous is not None
    last = await log.browse(mine, everything, 3, second.next, None)
    assert (ids(last), last.next) == (newest[6:], None)
    assert last.previous is not None
    back = await log.browse(mine, everything, 3, None, last.previous)
    assert ids(back) == newest[3:6]
    assert back.next is not None
    assert back.previous is not None
    front = await log.browse(mine, everything, 3, None, back.previous)
    assert (ids(front), front.previous) == (newest[:3], None)


async def test_the_filter_and_the_scope_hold_on_every_page(db: Database) -> None:
    mine, other = await org(db), await org(db)
    failed = await events(db, mine, 4, "signin.failed")
    await events(db, mine, 4)
    await events(db, other, 4, "signin.failed")
    log = AuditLog(db, ())
    only = AuditFilter(outcome="failure")
    first = await log.browse(mine, only, 2, None, None)
    assert first.next is not None
    second = await log.browse(mine, only, 2, first.next, None)
    assert ids(first) + ids(second) == list(reversed(failed))
    assert second.next is None
    everyone = await log.browse(None, only, 100, None, None)
    assert len(everyone.events) == 8


async def test_a_made_up_position_is_a_bad_request(db: Database) -> None:
    log = AuditLog(db, ())
    with pytest.raises(BadRequest) as refused:
        await log.browse(await org(db), AuditFilter(), 3, None, "not-a-cursor")
    assert refused.value.code == "invalid_cursor"
