"""Revocations are durable in PostgreSQL first: every instance rebuilds its list from the database
(at start, when the store lost its state or reconnected, and periodically), so no revocation
depends on what Redis still holds."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from rowgate.auth.db import Database
from rowgate.auth.sessions import repo as sessions
from rowgate.auth.sessions.revocation import RevocationList, database_source
from rowgate.auth.store import MemoryStore, RedisStore
from rowgate.config.schema import DatabaseSettings
from tests.servers import PrivateRedis

pytestmark = pytest.mark.integration

HORIZON = 930.0  # 15 minutes of access token and 30 seconds of leeway


@pytest.fixture
async def db(migrated_database: str) -> AsyncIterator[Database]:
    database = await Database.connect(migrated_database, DatabaseSettings())
    yield database
    await database.close()


async def _user(conn: asyncpg.Connection) -> str:
    return str(
        await conn.fetchval(
            "INSERT INTO rowgate.users (email) VALUES ($1) RETURNING id::text",
            f"{uuid.uuid4().hex}@example.com",
        )
    )


async def _session(conn: asyncpg.Connection, user_id: str, expires: str = "1 day") -> str:
    sql = "INSERT INTO rowgate.sessions (user_id, expires_at) VALUES ($1, now() + $2::text::interval)"
    return str(await conn.fetchval(sql + " RETURNING id::text", user_id, expires))


async def test_every_way_a_session_ends_is_recorded_in_the_same_transaction(db: Database) -> None:
    async with db.connection() as conn:
        user = await _user(conn)
        signed_out, rolled_back, live = [await _session(conn, user) for _ in range(3)]
        expired_long_ago = await _session(conn, user, "-2 days")
        other = await _session(conn, await _user(conn))
        assert await sessions.revoke(conn, user, signed_out)
        transaction = conn.transaction()  # a revocation rolled back is no revocation
        await transaction.start()
        await sessions.revoke(conn, user, rolled_back)
        await transaction.rollback()
        assert set(await sessions.revoked_since(conn, HORIZON)) == {signed_out}
        # The janitor deleting a session that expired days ago records nothing; deleting the
        # account deletes its live sessions, which are recorded (the signed-out one was already).
        await conn.execute("DELETE FROM rowgate.sessions WHERE id = $1", expired_long_ago)
        await conn.execute("DELETE FROM rowgate.users WHERE id = $1", user)
        assert set(await sessions.revoked_since(conn, HORIZON)) == {signed_out, rolled_back, live}
        assert other not in await sessions.revoked_since(conn, HORIZON)


async def test_an_instance_learns_revocations_from_the_database_whatever_its_store_holds(
    db: Database,
) -> None:
    async with db.connection() as conn:
        user = await _user(conn)
        recent, old, live = [await _session(conn, user) for _ in range(3)]
        await sessions.revoke(conn, user, recent)
        await sessions.revoke(conn, user, old)
        await conn.execute(
            "UPDATE rowgate.revoked_sessions SET revoked_at = now() - interval '20 minutes' "
            "WHERE session_id = $1",
            old,
        )
    # A fresh, empty store: what a restarted or flushed Redis looks like to a new instance.
    fresh = RevocationList(MemoryStore(), database_source(db), HORIZON)
    await fresh.start()
    try:
        assert fresh.is_revoked(recent)
        assert not fresh.is_revoked(old)  # its tokens expired long ago: no need to remember it
        assert not fresh.is_revoked(live)
    finally:
        await fresh.close()


async def test_a_revocation_the_store_never_announced_is_caught_up(db: Database) -> None:
    running = RevocationList(MemoryStore(), database_source(db), HORIZON, catch_up=0.1)
    await running.start()
    try:
        async with db.connection() as conn:
            user = await _user(conn)
            session = await _session(conn, user)
            assert not running.is_revoked(session)
            # Revoked by an instance that died before announcing it: only the database knows.
            await sessions.revoke(conn, user, session)
        async with asyncio.timeout(10):
            while not running.is_revoked(session):
                await asyncio.sleep(0.05)
    finally:
        await running.close()


async def test_a_flushed_or_restarted_redis_makes_every_subscriber_reread(
    private_redis: PrivateRedis, db: Database
) -> None:
    store = await RedisStore.connect(private_redis.url, "t:", state_check_interval=0.1)
    heard: list[str | None] = []

    async def handler(message: str | None) -> None:
        heard.append(message)

    try:
        await store.subscribe("news", handler)
        assert heard == [None]
        private_redis.flush()  # no connection drops: only the generation marker tells
        async with asyncio.timeout(10):
            while len(heard) < 2:
                await asyncio.sleep(0.05)
        assert heard == [None, None]
        private_redis.stop()
        private_redis.start()
        async with asyncio.timeout(15):
            while len(heard) < 3:
                await asyncio.sleep(0.05)
        assert set(heard) == {None}
    finally:
        await store.close()


async def test_a_restarted_redis_hands_out_no_dead_connection(private_redis: PrivateRedis) -> None:
    store = await RedisStore.connect(private_redis.url, "t:")
    try:
        # Fill the pool with connections that the restart below leaves dead.
        await asyncio.gather(*(store.incr("hits", ttl=60) for _ in range(40)))
        private_redis.stop()
        private_redis.start()
        async with asyncio.timeout(10):
            while True:
                try:
                    await store.ping()
                    break
                except Exception:
                    await asyncio.sleep(0.05)
        # Once Redis answers, every request does: no connection that failed is used again.
        counts = await asyncio.gather(*(store.incr("hits", ttl=60) for _ in range(40)))
        assert sorted(counts) == list(range(1, 41))
    finally:
        await store.close()
