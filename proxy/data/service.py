"""Opening the data API at start-up: its pool, the policy snapshot (with the second wall put
up for it), the reload watcher.

An invalid or missing policy file stops start-up with every problem listed (``ConfigError``);
``policies: null`` serves no table, so that rowgate runs as a plain auth proxy.  Tables the
policies name that the database lacks are named in a warning (the data API answers 404 for them
until they exist).  A second wall rowgate may not put up itself closes the data API in
``mode: production`` (``proxy.data.policy``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg

from rowgate.auth.db import translated_errors
from rowgate.config.schema import Settings
from rowgate.proxy.data.policy import DataPolicy, load_data_policy
from rowgate.proxy.data.reload import PolicyHolder, Reporter, watching
from rowgate.proxy.data.rest import DataApi
from rowgate.proxy.data.runner import DataRunner
from rowgate.rls.schema import missing_tables

log = logging.getLogger("rowgate.data")


@contextlib.asynccontextmanager
async def open_data_api(
    settings: Settings, database_url: str, report: Reporter | None = None
) -> AsyncIterator[DataApi]:
    """The data API on ``database_url``, watching ``settings.policies`` while the block runs;
    ``report`` hears of every reload (for the audit trail)."""
    runner = await DataRunner.connect(database_url, settings.data)
    try:

        async def load(path: Path | None) -> DataPolicy:
            with translated_errors(connecting=True):
                async with runner.own_connection() as conn, _without_timeout(conn):
                    policy = await load_data_policy(
                        path,
                        conn,
                        settings.data,
                        settings.rbac.known_roles,
                        production=settings.mode == "production",
                    )
            _warn_missing_tables(policy)
            return policy

        if settings.policies is None:
            log.info("policies: null: the data API serves no table")
        holder = PolicyHolder(settings.policies, load, await load(settings.policies), report)
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


def _warn_missing_tables(policy: DataPolicy) -> None:
    missing = missing_tables(policy.policies, policy.schema)
    if missing:
        log.warning(
            "the policies in %s name tables the database does not have: %s. The data API answers "
            "404 for them until they exist: create them (`rowgate demo` creates the demo's tables, "
            "see proxy/data/demo_tables.sql), then reload (SIGHUP) or restart rowgate",
            policy.policies.source,
            ", ".join(missing),
        )


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
