"""Versioned SQL migrations for the ``rowgate`` schema, applied under an advisory lock.

Migrations are the files ``auth/migrations/NNNN_name.sql``, applied in order, each in
its own transaction, and recorded with a checksum in ``rowgate.schema_migrations``.
Several instances may start at once: the first takes ``pg_advisory_lock`` and applies
what is missing, the others wait for the lock and then find nothing left to do.  A
migration file edited after it was applied is refused rather than silently skipped.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

import asyncpg

from rowgate.errors import ConfigError

log = logging.getLogger("rowgate.migrate")

#: Arbitrary constant naming rowgate's migration lock (``pg_advisory_lock`` takes a bigint).
LOCK_ID = 0x726F77676174  # "rowgat"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def bundled_migrations() -> list[Migration]:
    """The migrations shipped in ``auth/migrations``, in version order."""
    found = []
    for entry in resources.files("rowgate.auth.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ConfigError([f"auth/migrations: two migrations share a version number: {versions}"])
    return found


async def migrate(
    conn: asyncpg.Connection,
    migrations: list[Migration] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Migration]:
    """Apply every missing migration on ``conn``; return those applied by this call."""
    todo = bundled_migrations() if migrations is None else migrations
    say = progress or log.info
    # Waiting for the lock and applying a migration may take long: no timeout a role or database
    # sets by default applies to them (reset when the connection goes back to its pool).
    await conn.execute("SET statement_timeout = 0")
    await conn.execute("SELECT pg_advisory_lock($1)", LOCK_ID)
    try:
        await conn.execute(
            """
            CREATE SCHEMA IF NOT EXISTS rowgate;
            CREATE TABLE IF NOT EXISTS rowgate.schema_migrations (
                version    integer PRIMARY KEY,
                name       text NOT NULL,
                checksum   text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            );
            """
        )
        applied = {
            r["version"]: r["checksum"]
            for r in await conn.fetch("SELECT version, checksum FROM rowgate.schema_migrations")
        }
        done = []
        for migration in todo:
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    raise ConfigError(
                        [
                            f"migration {migration.version:04d}_{migration.name} was changed after it was "
                            "applied; add a new migration instead of editing an applied one"
                        ]
                    )
                continue
            say(f"applying migration {migration.version:04d}_{migration.name}")
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO rowgate.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            done.append(migration)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_ID)
