"""A used test database made as good as new, when that is certain and cheaper than a new copy.

A new copy of a template (``CREATE DATABASE ... TEMPLATE``) and its drop cost PostgreSQL about
50 ms of CPU (a copy of every catalog, a WAL record of every page, a checkpoint per batch of
drops), and a run of the suite uses about a thousand.  Most tests change rows, not the schema,
so a used database can instead be given its template's rows again.  That is only safe when the test left
nothing else behind, and PostgreSQL (15 and later) can say so exactly: a backend adds every row
it inserts, updates or deletes to the database's cumulative statistics before it goes away
(``pg_stat_all_tables``; a new database starts at zero).  So once no session is left on the
database:

- a row written to any catalog (a table, role grant, policy, function, comment, statistics,
  temporary table: anything beyond rows), or to a table the template does not have, or a
  database-level change (its settings, owner, access, a prepared transaction, a subscription)
  means the database is dropped, as before;
- otherwise each table the test wrote is truncated together with every table referring to it,
  and given back the template's rows (kept from the first copy, ``COPY`` binary); every sequence
  is set back; and the counters read afterwards are the baseline for the next test.

Anything unexpected (a session that does not leave, an error, an older PostgreSQL) drops the
database instead: the worst case is the old cost, never a dirty database.  The caller renames a
recycled database before handing it out again, so a client of the previous test that still tries
to connect finds nothing (``tests/test_recycle.py`` checks that a recycled database reads exactly
as its template and that each kind of change is caught).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass

import asyncpg

#: Counters of every table that are not shared between databases: (inserted, updated, deleted).
_COUNTERS = """
SELECT s.relid, s.n_tup_ins, s.n_tup_upd, s.n_tup_del
FROM pg_stat_all_tables s JOIN pg_class c ON c.oid = s.relid
WHERE NOT c.relisshared
"""

#: The database's own state that lives in shared catalogs (which other databases' tests change too).
_DATABASE = """
SELECT d.datdba, d.datconnlimit, d.datallowconn, d.datacl::text,
       (SELECT count(*) FROM pg_db_role_setting WHERE setdatabase = d.oid)
     + (SELECT count(*) FROM pg_prepared_xacts WHERE database = d.datname)
     + (SELECT count(*) FROM pg_subscription WHERE subdbid = d.oid)
     + (SELECT count(*) FROM pg_replication_slots WHERE database = d.datname)
FROM pg_database d WHERE d.datname = current_database()
"""

#: Ordinary tables outside the catalogs, each with its TOAST table.
_TABLES = """
SELECT c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname), n.nspname, c.relname,
       c.reltoastrelid
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
"""

#: Which table refers to which (foreign keys): a truncated table takes its referrers with it.
_REFERENCES = "SELECT conrelid, confrelid FROM pg_constraint WHERE contype = 'f'"

_SEQUENCES = """
SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename), start_value, last_value
FROM pg_sequences
"""

#: How many sessions are on database ``$1``: a backend's writes are counted by the time it is gone.
SESSIONS = "SELECT count(*) FROM pg_stat_activity WHERE datname = $1"
_OTHERS = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
)

Counters = Mapping[int, tuple[int, int, int]]


@dataclass(frozen=True)
class Table:
    name: str
    schema: str
    table: str
    #: The template's rows, ``COPY`` binary (``None``: it has none).
    rows: bytes | None


@dataclass(frozen=True)
class Pristine:
    """What a new copy of one template holds (the same in every copy: a copy keeps the oids)."""

    tables: dict[int, Table]
    #: A TOAST table's oid: its table's.
    toast: dict[int, int]
    #: A table's oid: the oids of the tables whose foreign keys refer to it.
    referrers: dict[int, frozenset[int]]
    #: Each sequence's ``setval`` arguments: the value, and whether it was used.
    sequences: dict[str, tuple[int, bool]]
    database: tuple[object, ...]


async def pristine(conn: asyncpg.Connection) -> Pristine:
    """What ``conn``'s database holds now (it must be a copy no one has used)."""
    tables: dict[int, Table] = {}
    toast: dict[int, int] = {}
    for oid, name, schema, table, toast_oid in await conn.fetch(_TABLES):
        rows = None
        if await conn.fetchval(f"SELECT EXISTS (SELECT FROM {name})"):
            buffer = io.BytesIO()
            await conn.copy_from_table(table, schema_name=schema, output=buffer, format="binary")
            rows = buffer.getvalue()
        tables[oid] = Table(name, schema, table, rows)
        if toast_oid:
            toast[toast_oid] = oid
    referrers: dict[int, set[int]] = {}
    for referrer, referred in await conn.fetch(_REFERENCES):
        referrers.setdefault(referred, set()).add(referrer)
    sequences = {
        name: (start if last is None else last, last is not None)
        for name, start, last in await conn.fetch(_SEQUENCES)
    }
    database = tuple(await conn.fetchrow(_DATABASE))
    return Pristine(tables, toast, {k: frozenset(v) for k, v in referrers.items()}, sequences, database)


async def supported(conn: asyncpg.Connection) -> bool:
    """Whether the server reports a backend's writes before the backend is gone (PostgreSQL 15)."""
    return bool(await conn.fetchval("SELECT current_setting('server_version_num')::int >= 150000"))


async def recycle(url: str, state: Pristine, baseline: Counters) -> Counters | None:
    """Make the database at ``url`` hold what ``state`` says again; the counters to compare with
    next time, or ``None`` when that is not certain (the database must then be dropped).  The
    caller waits until no session is left on it (``SESSIONS``) before it calls."""
    conn = await asyncpg.connect(url)
    try:
        if await conn.fetchval(_OTHERS):
            return None
        written = await _written(conn, state, baseline)
        if written is None or tuple(await conn.fetchrow(_DATABASE)) != state.database:
            return None
        await _restore(conn, state, written)
        await conn.execute("SELECT pg_stat_force_next_flush()")
        return await _counters(conn)
    finally:
        await conn.close()


async def _counters(conn: asyncpg.Connection) -> dict[int, tuple[int, int, int]]:
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    return {oid: (ins, upd, dele) for oid, ins, upd, dele in await conn.fetch(_COUNTERS)}


async def _written(conn: asyncpg.Connection, state: Pristine, baseline: Counters) -> set[int] | None:
    """The template's tables written since ``baseline``; ``None`` if anything else was."""
    written: set[int] = set()
    for oid, counts in (await _counters(conn)).items():
        if counts == baseline.get(oid, (0, 0, 0)):
            continue
        table = state.toast.get(oid, oid)
        if table not in state.tables:
            return None
        written.add(table)
    return written


async def _restore(conn: asyncpg.Connection, state: Pristine, written: set[int]) -> None:
    """Give the written tables, and the tables referring to them, the template's rows; set every
    sequence back (a sequence's use leaves no count, so they all are)."""
    emptied = set(written)
    pending = list(written)
    while pending:
        for referrer in state.referrers.get(pending.pop(), ()):
            if referrer not in emptied:
                emptied.add(referrer)
                pending.append(referrer)
    tables = [state.tables[oid] for oid in emptied]
    async with conn.transaction():
        # As a replica: no trigger fires (an append-only table's guard, a foreign key's check).
        await conn.execute("SET LOCAL session_replication_role = replica")
        if tables:
            await conn.execute("TRUNCATE " + ", ".join(table.name for table in tables))
        for table in tables:
            if table.rows is not None:
                await conn.copy_to_table(
                    table.table, schema_name=table.schema, source=io.BytesIO(table.rows), format="binary"
                )
        if state.sequences:
            await conn.execute(
                "SELECT setval(name::regclass, value, used) FROM unnest($1::text[], $2::bigint[], $3::bool[])"
                " AS s(name, value, used)",
                list(state.sequences),
                [value for value, _ in state.sequences.values()],
                [used for _, used in state.sequences.values()],
            )
