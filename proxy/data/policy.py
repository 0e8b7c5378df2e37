"""One consistent snapshot of what the data API enforces: the policy file, the database's tables
as introspected when the file was loaded, and the rewriters built from both.

A snapshot is immutable; reloading builds a new one and swaps it in (``proxy.data.reload``), so a
request that took a snapshot at its start finishes under it whatever happens meanwhile.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from config.data import DataSettings
from config.errors import ConfigError, NotFound
from rls.catalog import TableInfo, read_catalog
from rls.introspect import introspect
from rls.policy import PolicySet, load_policies, parse_policies
from rls.rewrite import Rewriter
from rls.schema import Schema

#: rowgate's own schema: never reachable through the data API, whatever a policy file says.
OWN_SCHEMA = "rowgate"

ROW_SECURITY = """
SELECT n.nspname || '.' || c.relname AS name, c.relrowsecurity AS enabled, c.relforcerowsecurity AS forced
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY($1::text[]) AND c.relkind IN ('r', 'p')
"""


@dataclass(frozen=True, eq=False)
class DataPolicy:
    """Policies, tables and rewriters, consistent with each other."""

    policies: PolicySet
    schema: Schema
    tables: Mapping[str, TableInfo]
    rewriter: Rewriter
    _upstream: dict[str, Rewriter] = field(default_factory=dict, repr=False)

    @property
    def version(self) -> str:
        return self.policies.version

    def table(self, name: str) -> TableInfo:
        """The REST table called ``name`` (``tasks``, or ``schema.tasks`` outside the default
        schema); 404 for a table that does not exist or has no policy, alike."""
        found = self.tables.get(name)
        if found is None:
            raise NotFound(f"No table {name!r} is served by the data API.", code="unknown_table")
        return found

    def rewriter_for(self, dialect: str) -> Rewriter:
        """The rewriter for SQL in ``dialect`` forwarded to an upstream service: the subject's
        values are written in as quoted literals (the upstream cannot receive rowgate's parameters)."""
        found = self._upstream.get(dialect)
        if found is None:
            found = Rewriter(self.policies, dialect, schema=self.schema, literals=True)
            self._upstream[dialect] = found
        return found


def empty_policies() -> PolicySet:
    """No tables at all: every statement is refused (used when there is no policy file)."""
    return parse_policies({"version": 1}, source="<no policy file>")


async def load_data_policy(
    path: Path | None, conn: asyncpg.Connection, settings: DataSettings, roles: Collection[str] | None = None
) -> DataPolicy:
    """Read and check the policy file, introspect the database, build the rewriter.

    Raises ``ConfigError`` listing every problem: an invalid file, a ``role:<name>`` group naming
    none of ``roles``, a table in rowgate's own schema, rules naming columns the tables lack, or
    (with ``data.native_rls``) tables without row security enabled and forced.
    """
    policies = await _read(path, roles) if path is not None else empty_policies()
    own = sorted(t.qualified for t in policies.tables.values() if t.schema == OWN_SCHEMA)
    if own:
        raise ConfigError(
            [f"{policies.source}: tables.{name}: rowgate's own schema is never served" for name in own]
        )
    schema = await introspect(conn, settings.schemas)
    catalog = await read_catalog(conn, settings.schemas)
    if settings.native_rls:
        await _check_row_security(conn, policies, settings)
    rewriter = Rewriter(policies, "postgres", schema=schema)
    tables = {
        _rest_name(info, policies.schema): info for key, info in catalog.items() if key in policies.tables
    }
    return DataPolicy(policies, schema, tables, rewriter)


async def _read(path: Path, roles: Collection[str] | None) -> PolicySet:
    # A small file, but a slow disk must not stall the event loop.
    return await asyncio.to_thread(load_policies, path, roles=roles)


def policy_file(path: Path) -> Path | None:
    """``path`` when it exists; ``None`` (no tables served) when it does not."""
    return path if os.path.exists(path) else None


def _rest_name(info: TableInfo, default_schema: str) -> str:
    return info.name if info.schema == default_schema else info.qualified


async def _check_row_security(conn: asyncpg.Connection, policies: PolicySet, settings: DataSettings) -> None:
    states = {
        r["name"]: (r["enabled"], r["forced"]) for r in await conn.fetch(ROW_SECURITY, list(settings.schemas))
    }
    missing = sorted(name for name in policies.tables if name in states and not all(states[name]))
    if missing:
        raise ConfigError(
            [
                f"data.native_rls: table {name} does not have row security enabled and forced; apply "
                "`rowgate policy export --format postgres` to the database first"
                for name in missing
            ]
        )
