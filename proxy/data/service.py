"""Opening the data API at start-up: its pool, the policy snapshot (with the second wall put
up for it), the reload watcher.

An invalid policy file stops start-up with every problem listed (``ConfigError``); a missing one
serves no table (and says so), so that rowgate still runs as a plain auth proxy.  A second wall
rowgate may not put up itself closes the data API in ``mode: production`` (``proxy.data.policy``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg

from rowgate.auth.db import translated_errors
from rowgate.config.schema import Settings
from rowgate.proxy.data.policy import DataPolicy, load_data_policy, policy_file
from rowgate.proxy.data.reload import PolicyHolder, watching
from rowgate.proxy.data.rest import DataApi
from rowgate.proxy.data.runner import DataRunner

log = logging.getLogger("rowgate.data")


@contextlib.asynccontextmanager
async def open_data_api(settings: Settings, database_url: str) -> AsyncIterator[DataApi]:
    """The data API on ``database_url``, watching ``settings.policies`` while the block runs."""
    runner = await DataRunner.connect(database_url, settings.data)
    try:

        async def load(path: Path | None) -> DataPolicy:
            with translated_errors(connecting=True):
                async with runner.pool.connection() as conn, _without_timeout(conn):
                    return await load_data_policy(
                        path,
                        conn,
                        settings.data,
                        settings.rbac.known_roles,
                        production=settings.mode == "production",
                    )

        path = policy_file(settings.policies)
        if path is None:
            log.warning("no policy file at %s: the data API serves no table", settings.policies)
        holder = PolicyHolder(settings.policies, load, await load(path))
        log.info(
            "data API: policy version %s, %d table(s) served",
            holder.current.version,
            len(holder.current.tables),
        )
        interval = settings.data.reload_interval.total_seconds() if settings.data.reload else None
        async with watching(holder, interval):
            yield DataApi(runner, holder, settings.data)
    finally:
        await runner.close()


@contextlib.asynccontextmanager
async def _without_timeout(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """Reading the catalog and putting up the second wall are rowgate's own work, not a caller's
    statement: the data statement timeout (a busy machine, a big catalog) must not stop them.  A
    session setting, not a transaction of their own (the wall runs its own, and survives a
    refused CREATE ROLE); the data pool keeps session state, so the timeout is put back, and a
    connection that cannot take it back is closed rather than returned without one."""
    await conn.execute("SET statement_timeout = 0")
    try:
        yield
    finally:
        try:
            await conn.execute("RESET statement_timeout")
        except BaseException:
            conn.terminate()
            raise
