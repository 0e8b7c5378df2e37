"""The demo's tables: ``rowgate demo`` creates them (if absent) so the data API has something to
serve on a fresh machine.  ``rowgate serve`` never runs this: an app's tables are its own."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from rowgate.auth.db import translated_errors

DEMO_TABLES = Path(__file__).with_name("demo_tables.sql")


async def create_demo_tables(database_url: str) -> None:
    """Create ``projects``, ``tasks`` and ``posts`` (and one published post) where missing."""
    with translated_errors(connecting=True):
        conn = await asyncpg.connect(database_url)
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext('rowgate demo tables'))")
                await conn.execute(DEMO_TABLES.read_text(encoding="utf-8"))
        finally:
            await conn.close()
