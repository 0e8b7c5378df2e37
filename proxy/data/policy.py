"""One consistent snapshot of what the data API enforces: the policy file, the database's tables
as introspected when the file was loaded, the rewriters built from both, and the second wall
put up for them.

Loading a policy puts up the second wall (``rls.wall``): the role ``data.role`` that every
statement runs as, its grants and, with ``data.native_rls``, the native policies of the file.
When rowgate's login may not do all of it, the snapshot says so: in ``mode: production`` the
data API is closed (every request a 503) until someone runs ``rowgate policy export --sql``;
in ``mode: dev`` it serves without the second wall and warns loudly.

A snapshot is immutable; reloading builds a new one and swaps it in (``proxy.data.reload``), so a
request that took a snapshot at its start finishes under it whatever happens meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from rowgate.config.data import DataSettings
from rowgate.errors import ConfigError, NotFound, ServiceUnavailable
from rowgate.proxy.data.catalog import TableInfo, read_catalog
from rowgate.proxy.data.execute import RunAs
from rowgate.rls.introspect import introspect
from rowgate.rls.policy import PolicySet, load_policies, parse_policies
from rowgate.rls.rewrite import Rewriter
from rowgate.rls.schema import Schema
from rowgate.rls.wall import OWN_SCHEMA, Inspection, install, plan_for

log = logging.getLogger("rowgate.data")

#: What to run where rowgate may not put up the second wall itself.
EXPORT_COMMAND = "rowgate policy export --sql"


@dataclass(frozen=True, eq=False)
class DataPolicy:
    """Policies, tables and rewriters, consistent with each other."""

    policies: PolicySet
    schema: Schema
    tables: Mapping[str, TableInfo]
    rewriter: Rewriter
    #: The role statements run as (``None``: rowgate's own login, without the second wall).
    role: str | None = None
    #: What keeps the second wall down, and what to do about it (``None``: it is up, or off).
    wall_down: str | None = None
    #: Whether the data API refuses every request (``mode: production`` with the wall down).
    closed: bool = False
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

    def runs_as(self) -> RunAs | None:
        """Whom to run a statement as (``None``: rowgate's login); a 503 while the data API is
        closed."""
        if self.closed:
            raise ServiceUnavailable(
                "The data API is closed until its database is set up; the operator has the details "
                "in rowgate's log.",
                code="second_wall_missing",
            )
        return RunAs(self.role, self.version) if self.role else None

    def rewriter_for(self, dialect: str) -> Rewriter:
        """The rewriter for SQL in ``dialect`` forwarded to an upstream service: the subject's
        values are written in as quoted literals (the upstream cannot receive rowgate's parameters)."""
        found = self._upstream.get(dialect)
        if found is None:
            found = Rewriter(self.policies, dialect, schema=self.schema, literals=True)
            self._upstream[dialect] = found
        return found


def empty_policies() -> PolicySet:
    """No tables at all: every statement is refused (``policies: null``: no data API)."""
    return parse_policies({"version": 1}, source="<no policy file>")


async def load_data_policy(
    path: Path | None,
    conn: asyncpg.Connection,
    settings: DataSettings,
    roles: Collection[str] | None = None,
    *,
    production: bool = False,
) -> DataPolicy:
    """Read and check the policy file, introspect the database, build the rewriter, put up the
    second wall (``production``: close the data API when it cannot be).

    Raises ``ConfigError`` listing every problem: an invalid file, a ``role:<name>`` group naming
    none of ``roles``, a table in rowgate's own schema, rules naming columns the tables lack.
    """
    policies = await _read(path, roles) if path is not None else empty_policies()
    problems = own_schema_problems(policies)
    if problems:
        raise ConfigError(problems)
    schema = await introspect(conn, settings.schemas)
    catalog = await read_catalog(conn, settings.schemas)
    rewriter = Rewriter(policies, "postgres", schema=schema)
    tables = {
        _rest_name(info, policies.schema): info for key, info in catalog.items() if key in policies.tables
    }
    role, down = await _second_wall(conn, policies, schema, settings, production)
    return DataPolicy(policies, schema, tables, rewriter, role, down, production and down is not None)


async def _second_wall(
    conn: asyncpg.Connection, policies: PolicySet, schema: Schema, settings: DataSettings, production: bool
) -> tuple[str | None, str | None]:
    """Put up the second wall; the role to run as, and what keeps the wall down."""
    if settings.role is None:
        log.warning(
            "data.role is null: data API statements run as rowgate's own login, without a second wall"
        )
        return None, None
    wall = await plan_for(
        conn, policies, schema, role=settings.role, schemas=settings.schemas, native=settings.native_rls
    )
    found = await install(conn, wall)
    for warning in found.warnings:
        log.warning("second wall: %s", warning)
    if found.up:
        return settings.role, None
    report = _report(found)
    if production:
        log.error("the data API is CLOSED: %s", report)
    else:
        banner = "!" * 72
        log.warning(
            "\n%s\nTHE DATA API RUNS WITHOUT ITS SECOND WALL (mode: dev): %s\n%s", banner, report, banner
        )
    return None, report


def _report(found: Inspection) -> str:
    lines = "; ".join(found.problems)
    return (
        f"rowgate's login may not put up the second wall itself ({lines}). Run the SQL that "
        f"`{EXPORT_COMMAND}` prints as a superuser (or the tables' owner with CREATEROLE), then reload "
        "(SIGHUP) or restart rowgate."
    )


async def _read(path: Path, roles: Collection[str] | None) -> PolicySet:
    # A small file, but a slow disk must not stall the event loop.
    return await asyncio.to_thread(load_policies, path, roles=roles)


def own_schema_problems(policies: PolicySet) -> list[str]:
    """A table in rowgate's own schema, which is never served, is a mistake of the policy file."""
    own = sorted(t.qualified for t in policies.tables.values() if t.schema == OWN_SCHEMA)
    return [f"{policies.source}: tables.{name}: rowgate's own schema is never served" for name in own]


def _rest_name(info: TableInfo, default_schema: str) -> str:
    return info.name if info.schema == default_schema else info.qualified
