"""The second wall in a live database: what it lacks (``inspect``) and putting it up (``install``).

``rls.export`` says what the wall is (a ``Wall``); this module reads the catalogs and compares.
The wall is up when every one of these holds, and each that does not is a ``Finding``:

* the role exists, is no superuser and has none of ``BYPASSRLS``, ``CREATEROLE``, ``CREATEDB``,
  ``REPLICATION``, is a member of no other role (so none of ``pg_read_server_files`` and the
  like), and rowgate's login may ``SET ROLE`` to it;
* it owns no served table and no served schema, and has no privilege on rowgate's own schema;
* on each served table it holds exactly the privileges the policy needs, on no other table,
  view or foreign table of any schema it can use (``pg_catalog`` and ``information_schema``,
  which PostgreSQL opens to every role, aside), and ``USAGE`` on the sequences the tables'
  defaults draw from;
* the owner rule's trigger (``rls.export.OwnerTrigger``) is on each table whose policy has one,
  current (the digest in its comment), and on no other served table;
* row security is enabled on each served table, the current generation of rowgate's policies
  is there (each with the digest of its text), no older generation is left but the one before
  (kept for requests that started under it, here or on instances that have not reloaded yet),
  and no other permissive policy lets the role see more.

``install`` mends what rowgate is allowed to mend: the role's own statements each on their
own (roles are shared by every database of the server, and several processes may create the
same one at once), then the tables' part in one transaction under an advisory lock (so
instances starting together take turns) and a lock timeout (so a busy table delays start-up
by seconds, never the app's own traffic for long).  What it may not do (no ``CREATEROLE``, not
the tables' owner) it leaves, and ``inspect`` afterwards says what is still missing.  Enabling
row security on a table denies every other role that has privileges on it but no policy, so
rowgate does not enable it where that would lock an app's role out; it says so instead.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from rowgate.rls.export import COMMENT_PREFIX, Wall, grant_membership, ident, literal, plan_wall, relation
from rowgate.rls.policy import PolicySet
from rowgate.rls.schema import Schema

log = logging.getLogger("rowgate.wall")

#: rowgate's own schema: the data role must not reach it.
OWN_SCHEMA = "rowgate"
LOCK = "rowgate second wall"
_ROLE_ATTRIBUTES = {
    "rolsuper": "SUPERUSER",
    "rolbypassrls": "BYPASSRLS",
    "rolcreaterole": "CREATEROLE",
    "rolcreatedb": "CREATEDB",
    "rolreplication": "REPLICATION",
}


class Mend(enum.Enum):
    """Who mends a finding: the role's own statements, the tables' transaction, or a person."""

    ROLE = "role"
    TABLES = "tables"
    NOBODY = "nobody"


@dataclass(frozen=True, slots=True)
class Finding:
    """Something the database lacks (or has too much of); ``statements`` mend it beyond what
    the wall's own statements do."""

    problem: str
    mend: Mend = Mend.TABLES
    statements: tuple[str, ...] = ()
    #: A table whose row security must stay off until a person decides.
    hold: str | None = None


@dataclass(frozen=True, slots=True)
class Inspection:
    """What ``inspect`` found: problems (the wall is not up while there is one) and warnings."""

    findings: tuple[Finding, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def up(self) -> bool:
        return not self.findings

    @property
    def problems(self) -> list[str]:
        return [f.problem for f in self.findings]

    def statements(self, mend: Mend) -> list[str]:
        return [s for f in self.findings if f.mend is mend for s in f.statements]

    @property
    def hold(self) -> set[str]:
        return {f.hold for f in self.findings if f.hold}


ROLE = """
SELECT r.oid, r.rolsuper, r.rolbypassrls, r.rolcreaterole, r.rolcreatedb, r.rolreplication,
       ARRAY(SELECT g.rolname::text FROM pg_catalog.pg_auth_members m
             JOIN pg_catalog.pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid ORDER BY 1) AS member_of,
       pg_has_role(current_user, r.oid, $2) AS switchable
FROM pg_catalog.pg_roles r WHERE r.rolname = $1
"""

SCHEMAS = """
SELECT n.nspname AS name, n.nspowner = $1::oid AS owned,
       has_schema_privilege($1, n.oid, 'USAGE') AS usage, has_schema_privilege($1, n.oid, 'CREATE') AS create
FROM pg_catalog.pg_namespace n WHERE n.nspname = ANY($2::text[])
"""

RELATIONS = """
SELECT * FROM (
  SELECT n.nspname || '.' || c.relname AS name, c.relkind::text AS kind, c.relowner = $1::oid AS owned,
         c.relrowsecurity AS row_security, c.relforcerowsecurity AS forced,
         array_remove(ARRAY[
           CASE WHEN has_any_column_privilege($1, c.oid, 'SELECT') THEN 'SELECT' END,
           CASE WHEN has_any_column_privilege($1, c.oid, 'INSERT') THEN 'INSERT' END,
           CASE WHEN has_any_column_privilege($1, c.oid, 'UPDATE') THEN 'UPDATE' END,
           CASE WHEN has_table_privilege($1, c.oid, 'DELETE') THEN 'DELETE' END,
           CASE WHEN has_table_privilege($1, c.oid, 'TRUNCATE') THEN 'TRUNCATE' END,
           CASE WHEN has_any_column_privilege($1, c.oid, 'REFERENCES') THEN 'REFERENCES' END,
           CASE WHEN has_table_privilege($1, c.oid, 'TRIGGER') THEN 'TRIGGER' END], NULL) AS privileges,
         ARRAY(SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE g.rolname::text END
               FROM aclexplode(c.relacl) a LEFT JOIN pg_catalog.pg_roles g ON g.oid = a.grantee
               WHERE a.grantee NOT IN (c.relowner, $1)
                 AND NOT coalesce(g.rolsuper OR g.rolbypassrls, false)
                 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid
                                 AND (0 = ANY (p.polroles) OR a.grantee = ANY (p.polroles)))
               ORDER BY 1) AS unpoliced
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)'
    AND (has_schema_privilege($1, n.oid, 'USAGE') OR n.nspname || '.' || c.relname = ANY ($2::text[]))
) r WHERE name = ANY ($2::text[]) OR cardinality(privileges) > 0
"""

POLICIES = """
SELECT p.oid, n.nspname || '.' || c.relname AS table, p.polname AS name, p.polpermissive AS permissive,
       (0 = ANY (p.polroles) OR $1::oid = ANY (p.polroles)) AS applies,
       obj_description(p.oid, 'pg_policy') AS comment
FROM pg_catalog.pg_policy p
JOIN pg_catalog.pg_class c ON c.oid = p.polrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname || '.' || c.relname = ANY ($2::text[])
"""

TRIGGERS = """
SELECT n.nspname || '.' || c.relname AS table, t.tgname AS name,
       obj_description(t.oid, 'pg_trigger') AS comment
FROM pg_catalog.pg_trigger t
JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE NOT t.tgisinternal AND t.tgname LIKE 'rowgate\\_%' AND n.nspname || '.' || c.relname = ANY ($1::text[])
"""

SEQUENCES = """
SELECT DISTINCT tn.nspname || '.' || t.relname AS table, sn.nspname || '.' || s.relname AS sequence
FROM pg_catalog.pg_attrdef d
JOIN pg_catalog.pg_depend dep ON dep.classid = 'pg_catalog.pg_attrdef'::regclass AND dep.objid = d.oid
     AND dep.refclassid = 'pg_catalog.pg_class'::regclass
JOIN pg_catalog.pg_class s ON s.oid = dep.refobjid AND s.relkind = 'S'
JOIN pg_catalog.pg_namespace sn ON sn.oid = s.relnamespace
JOIN pg_catalog.pg_class t ON t.oid = d.adrelid JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
WHERE tn.nspname || '.' || t.relname = ANY ($1::text[])
ORDER BY 1, 2
"""

SEQUENCE_USAGE = """
SELECT s.name FROM unnest($2::text[], $3::text[]) AS s (name, quoted)
WHERE NOT has_sequence_privilege($1::oid, s.quoted::regclass, 'USAGE')
"""

#: Extensions whose functions reach outside the statement (other connections, server files).
RISKY_EXTENSIONS = ("dblink", "postgres_fdw", "file_fdw", "adminpack", "plpython3u", "plperlu")
EXTENSIONS = "SELECT extname FROM pg_catalog.pg_extension WHERE extname = ANY ($1::text[]) ORDER BY 1"

KINDS = """
SELECT n.nspname || '.' || c.relname AS name, c.relkind::text AS kind
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname || '.' || c.relname = ANY ($1::text[]) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
"""


async def read_tables(
    conn: asyncpg.Connection, names: Iterable[str]
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """For the tables ``names`` (``schema.name``) the database has: their relation kinds, and the
    sequences their column defaults draw from (``nextval``), which the role needs ``USAGE`` on."""
    wanted = sorted(names)
    kinds = {r["name"]: r["kind"] for r in await conn.fetch(KINDS, wanted)}
    sequences: dict[str, list[str]] = {}
    for row in await conn.fetch(SEQUENCES, wanted):
        sequences.setdefault(row["table"], []).append(row["sequence"])
    return kinds, sequences


async def plan_for(
    conn: asyncpg.Connection,
    policies: PolicySet,
    schema: Schema,
    *,
    role: str,
    schemas: Iterable[str],
    native: bool = True,
) -> Wall:
    """The second wall for the tables of ``policies`` in ``schemas`` that the database of
    ``conn`` has, with ``conn``'s role (rowgate's login) as the one that switches to ``role``."""
    wanted = set(schemas)
    kinds, sequences = await read_tables(
        conn, [t.qualified for t in policies.tables.values() if t.schema in wanted]
    )
    login = str(await conn.fetchval("SELECT current_user"))
    return plan_wall(
        policies, schema, role=role, login=login, tables=kinds, sequences=sequences, native=native
    )


async def script_for(conn: asyncpg.Connection, wall: Wall) -> str:
    """The SQL that puts ``wall`` up on the database of ``conn``: the whole wall, with what that
    database needs besides (stale policies dropped, ...) and what needs a person's attention."""
    found = await inspect(conn, wall)
    script = wall.script(
        role_fixes=found.statements(Mend.ROLE),
        table_fixes=found.statements(Mend.TABLES),
        attention=[f.problem for f in found.findings if f.mend is Mend.NOBODY],
        hold=found.hold,
    )
    return ("-- This database has all of it already: running it again changes nothing.\n" * found.up) + script


async def inspect(conn: asyncpg.Connection, wall: Wall) -> Inspection:
    """Compare the database with ``wall``; every difference is a finding."""
    role = await conn.fetchrow(ROLE, wall.role, await _switch_privilege(conn))
    if role is None:
        return Inspection((Finding(f"the role {wall.role} does not exist", Mend.ROLE),))
    findings = _role_findings(wall, role)
    if role["rolsuper"]:
        return Inspection(tuple(findings))  # a superuser passes every privilege check: nothing to compare
    warnings: list[str] = []
    oid, served = role["oid"], [t.table for t in wall.tables]
    findings += _schema_findings(wall, await conn.fetch(SCHEMAS, oid, [*wall.schemas, OWN_SCHEMA]), warnings)
    findings += _relation_findings(wall, await conn.fetch(RELATIONS, oid, served), warnings)
    findings += _policy_findings(wall, await conn.fetch(POLICIES, oid, served))
    findings += _trigger_findings(wall, await conn.fetch(TRIGGERS, served))
    sequences = [s for t in wall.tables for s in t.sequences]
    if sequences:
        quoted = [relation(s) for s in sequences]
        missing = [r["name"] for r in await conn.fetch(SEQUENCE_USAGE, oid, sequences, quoted)]
        findings += [Finding(f"the role {wall.role} may not use the sequence {s}") for s in missing]
    for (name,) in await conn.fetch(EXTENSIONS, list(RISKY_EXTENSIONS)):
        warnings.append(
            f"the extension {name} is installed: its functions can reach beyond the statement (other "
            "connections, server files); the rewriter never allows them, and the data role should not "
            "be able to execute them either"
        )
    return Inspection(tuple(findings), tuple(warnings))


async def install(conn: asyncpg.Connection, wall: Wall) -> Inspection:
    """Put up what ``wall`` lacks, as far as this connection's role may; what is still missing
    afterwards."""
    found = await inspect(conn, wall)
    if found.up:
        return found
    for statement in (*(wall.role_statements() if _lacks_role(found) else ()), *found.statements(Mend.ROLE)):
        try:
            await conn.execute(statement)
        except asyncpg.PostgresError as error:  # not allowed: what is left is in the inspection below
            log.warning("second wall: could not run %r: %s", " ".join(statement.split())[:60], error)
            break
    found = await inspect(conn, wall)
    if any(f.mend is Mend.TABLES for f in found.findings):
        try:
            async with conn.transaction():
                await conn.execute(
                    "SET LOCAL lock_timeout = '10s'; SET LOCAL statement_timeout = '2min'; "
                    f"SELECT pg_advisory_xact_lock(hashtext({literal(LOCK)}))"
                )
                found = await inspect(conn, wall)  # another instance may have done it meanwhile
                if any(f.mend is Mend.TABLES for f in found.findings):
                    statements = [*wall.table_statements(found.hold), *found.statements(Mend.TABLES)]
                    await conn.execute("\n".join(statements))
        except asyncpg.PostgresError as error:
            log.warning("second wall: could not install the grants and policies: %s", error)
        found = await inspect(conn, wall)
    return found


def _lacks_role(found: Inspection) -> bool:
    return any(f.mend is Mend.ROLE and not f.statements for f in found.findings)


async def _switch_privilege(conn: asyncpg.Connection) -> str:
    # PostgreSQL 16 tells membership (MEMBER) from the right to SET ROLE (SET).
    version = conn.get_server_version()
    return "SET" if version.major >= 16 else "MEMBER"


def _role_findings(wall: Wall, role: Mapping[str, object]) -> list[Finding]:
    findings = []
    name = ident(wall.role)
    attributes = [word for column, word in _ROLE_ATTRIBUTES.items() if role[column]]
    if attributes:
        undo = " ".join(f"NO{word}" for word in attributes)
        findings.append(
            Finding(
                f"the role {wall.role} has {', '.join(attributes)}",
                Mend.ROLE,
                (f"ALTER ROLE {name} {undo};",),
            )
        )
    for other in role["member_of"]:  # type: ignore[attr-defined]
        findings.append(
            Finding(
                f"the role {wall.role} is a member of {other} and has its privileges",
                Mend.ROLE,
                (f"REVOKE {ident(str(other))} FROM {name};",),
            )
        )
    if not role["switchable"]:
        if wall.login:
            findings.append(
                Finding(
                    f"rowgate's login {wall.login} may not SET ROLE {wall.role}",
                    Mend.ROLE,
                    (grant_membership(wall.role, wall.login),),
                )
            )
        else:
            findings.append(Finding(f"rowgate's login may not SET ROLE {wall.role}", Mend.NOBODY))
    return findings


def _schema_findings(wall: Wall, rows: list[asyncpg.Record], warnings: list[str]) -> list[Finding]:
    findings = []
    name = ident(wall.role)
    for row in rows:
        schema = row["name"]
        if schema == OWN_SCHEMA:
            if row["usage"] or row["create"] or row["owned"]:
                findings.append(
                    Finding(
                        f"the role {wall.role} may use rowgate's own schema",
                        Mend.TABLES,
                        (
                            f"REVOKE ALL ON SCHEMA {ident(OWN_SCHEMA)} FROM PUBLIC;",
                            f"REVOKE ALL ON SCHEMA {ident(OWN_SCHEMA)} FROM {name};",
                        ),
                    )
                )
            continue
        if row["owned"]:
            findings.append(
                Finding(
                    f"the role {wall.role} owns the schema {schema}: give it to another role "
                    f"(ALTER SCHEMA {ident(schema)} OWNER TO ...)",
                    Mend.NOBODY,
                )
            )
        if not row["usage"]:
            findings.append(Finding(f"the role {wall.role} may not use the schema {schema}"))
        if row["create"]:
            warnings.append(
                f"the role {wall.role} may create objects in the schema {schema} (PostgreSQL before 15 "
                f"lets every role do so in public): REVOKE CREATE ON SCHEMA {ident(schema)} FROM PUBLIC"
            )
    return findings


def _relation_findings(wall: Wall, rows: list[asyncpg.Record], warnings: list[str]) -> list[Finding]:
    planned = {t.table: t for t in wall.tables}
    findings = []
    for row in rows:
        table, held = row["name"], set(row["privileges"])
        plan = planned.get(table)
        if plan is None:
            findings.append(_unserved(wall.role, table, sorted(held)))
            continue
        if row["owned"]:
            findings.append(
                Finding(f"the role {wall.role} owns the table {table}: give it to another role", Mend.NOBODY)
            )
        if held != set(plan.privileges):
            findings.append(_privileges(wall.role, table, held, plan.privileges))
        if plan.row_security and not row["row_security"]:
            findings.append(_enable(wall.role, table, list(row["unpoliced"])))
        if row["forced"] and not row["owned"]:
            warnings.append(
                f"{table} has FORCE ROW LEVEL SECURITY, which confines its owner too (rowgate no longer "
                f"needs it: ALTER TABLE {relation(table)} NO FORCE ROW LEVEL SECURITY)"
            )
    return findings


def _privileges(role: str, table: str, held: set[str], wanted: tuple[str, ...]) -> Finding:
    extra = ", ".join(sorted(held - set(wanted)))
    public = f" (granted to PUBLIC? REVOKE {extra} ON {relation(table)} FROM PUBLIC)" if extra else ""
    return Finding(
        f"the role {role} holds {', '.join(sorted(held)) or 'no privilege'} on {table}, where the policy "
        f"needs {', '.join(wanted) or 'none'}{public}"
    )


def _unserved(role: str, table: str, held: list[str]) -> Finding:
    return Finding(
        f"the role {role} holds {', '.join(held)} on {table}, which no policy serves (revoke it, from "
        f"PUBLIC too if granted there: REVOKE ALL ON {relation(table)} FROM PUBLIC)",
        Mend.TABLES,
        (f"REVOKE ALL ON TABLE {relation(table)} FROM {ident(role)};",),
    )


def _enable(role: str, table: str, unpoliced: list[str]) -> Finding:
    if not unpoliced:
        return Finding(f"row security is not enabled on {table}")
    return Finding(
        f"row security is not enabled on {table}, and enabling it would deny every row to "
        f"{', '.join(unpoliced)} (privileges on it, no policy): give them a policy first (a policy "
        f"ON {relation(table)} TO them USING (true) WITH CHECK (true) keeps what they have today)",
        Mend.NOBODY,
        hold=table,
    )


def _policy_findings(wall: Wall, rows: list[asyncpg.Record]) -> list[Finding]:
    expected = {(p.table, p.name): p for t in wall.tables for p in t.policies}
    previous = _previous_generation(wall.version, rows)
    findings = []
    for row in rows:
        key = (row["table"], row["name"])
        policy = expected.pop(key, None)
        if policy is not None:
            if row["comment"] != policy.comment:
                findings.append(Finding(f"the policy {row['name']} on {row['table']} is out of date"))
        elif _generation(row) is not None or row["name"].startswith("rowgate_"):
            if previous is not None and _generation(row) == previous:
                continue  # the generation before: kept for requests that started under it
            findings.append(
                Finding(
                    f"the policy {row['name']} on {row['table']} is no longer in the policy file",
                    Mend.TABLES,
                    (f"DROP POLICY IF EXISTS {ident(row['name'])} ON {relation(row['table'])};",),
                )
            )
        elif row["permissive"] and row["applies"]:
            findings.append(
                Finding(
                    f"the policy {row['name']} on {row['table']} lets {wall.role} see rows beyond rowgate's "
                    "policies: make it RESTRICTIVE or name other roles in it",
                    Mend.NOBODY,
                )
            )
    findings += [Finding(f"the policy {name} on {table} is missing") for table, name in sorted(expected)]
    return findings


def _trigger_findings(wall: Wall, rows: list[asyncpg.Record]) -> list[Finding]:
    """The owner rule's triggers: each planned one there and current, no other of rowgate's."""
    planned = {(t.owner.table, t.owner.name): t.owner for t in wall.tables if t.owner is not None}
    findings = []
    for row in rows:
        trigger = planned.pop((row["table"], row["name"]), None)
        if trigger is None:
            continue  # not one of the owner rule's names: the app's own trigger
        if not trigger.create:
            findings.append(Finding(f"the owner rule's trigger {row['name']} on {row['table']} is stale"))
        elif row["comment"] != trigger.comment:
            findings.append(
                Finding(f"the owner rule's trigger {row['name']} on {row['table']} is out of date")
            )
    findings += [
        Finding(f"the owner rule's trigger {name} on {table} is missing")
        for (table, name), trigger in sorted(planned.items())
        if trigger.create
    ]
    return findings


def _generation(row: Mapping[str, Any]) -> str | None:
    """The policy file version of one of rowgate's policies (from its comment)."""
    words = (row["comment"] or "").split()
    return words[2] if len(words) == 3 and words[0] == COMMENT_PREFIX.strip() else None


def _previous_generation(current: str, rows: list[asyncpg.Record]) -> str | None:
    """The most recently installed generation of rowgate's policies other than ``current``."""
    others = [(row["oid"], _generation(row)) for row in rows if _generation(row) not in (None, current)]
    return max(others)[1] if others else None
