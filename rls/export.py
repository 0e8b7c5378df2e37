"""The second wall as SQL: a least-privileged role for the data API, its grants, and native
PostgreSQL policies with the same meaning as a policy file (``rowgate policy export --sql``;
``rls.wall`` checks a database against it and installs it).

The role (``rowgate_data`` by default, NOLOGIN) is created if missing, and rowgate's own login
is made a member so that it can ``SET LOCAL ROLE`` to it.  It gets ``USAGE`` on the served
tables' schemas, on each served table exactly the privileges of the operations its policy
grants to some group (``SELECT``, ``INSERT``, ``UPDATE``, ``DELETE``; never ``TRUNCATE``, which
row security does not cover), and ``USAGE`` on the sequences their column defaults draw from.

For each table: ``ENABLE ROW LEVEL SECURITY``, then one permissive policy per operation and
group for the role, which PostgreSQL ORs together just as the rewriter does::

    CREATE POLICY "rowgate_tasks_update_self_3f2a9c1e" ON "public"."tasks" AS PERMISSIVE FOR UPDATE
      TO "rowgate_data" USING (<version> AND "org_id" = <tenant> AND "created_by" = <user>)
      WITH CHECK (...same...)

The policies apply to the role alone: the tables' owner and the app's other roles keep what
they had (``FORCE`` is not used; the role owns nothing).

Policies come in generations, one per policy file version (``PolicySet.version``): a policy
holds only in a transaction that names its version in the setting ``rowgate.policy``, and its
name ends with the version.  So when the file changes, the new generation is installed beside the
old one, and a request that started under the old file (on this instance, or on another that
has not reloaded yet) finishes under the old policies, in the database as in the rewriter.
``rls.wall`` keeps the generation before the current one and drops older ones.  Each policy's
comment holds the digest of its text and its version, which is how ``rls.wall`` tells them apart.

The caller comes from the settings ``proxy.data.execute`` sets per transaction: ``rowgate.user_id``,
``rowgate.org_id``, ``rowgate.role``, ``rowgate.groups`` (comma-separated) and ``rowgate.policy``
(the version), read with ``current_setting(name, true)`` (NULL when unset, and '' turned into
NULL), each in a scalar subquery: ``"org_id" = (SELECT (NULLIF(current_setting('rowgate.org_id',
true), ''))::uuid)``.  PostgreSQL makes such a subquery an InitPlan, computed once per statement
(when the scan first needs it, after a single read's own settings are made) instead of once per
row; the tenant's index still serves the comparison; and the generic plan of a prepared read no
longer looks costlier than a custom one, so PostgreSQL keeps it instead of planning anew at every
execution (``loadtests/RESULTS.md``).  The meaning is the same: a missing or empty setting is
NULL, which no comparison passes.  Group membership is
``(SELECT 'admin' = ANY (string_to_array(current_setting('rowgate.groups', true), ',')))``;
``self`` needs only the owner comparison, which no row passes without a user; ``role:<name>`` is
``(SELECT current_setting('rowgate.role', true)) = '<name>'``.  Policy names longer than
PostgreSQL's 63 bytes end in a hash of the whole name, so that truncation never makes two
policies one.

The owner rule (``rls.owners``: a row a caller inserts, or whose owner column it sets, holds the
caller's id unless the caller writes as the tenant's admin) must tell an UPDATE that sets the
owner column from one that leaves it alone, which a WITH CHECK cannot, so it is a trigger that
raises the error row security raises, for the callers row security binds (the role)::

    CREATE TRIGGER "rowgate_tasks_owner" BEFORE INSERT OR UPDATE OF "created_by" ON "public"."tasks"
      FOR EACH ROW EXECUTE FUNCTION "public"."rowgate_tasks_owner"()

Unlike the policies it has no generations: a reload replaces it in place (its comment holds the
digest of its text, which is how ``rls.wall`` tells whether it is current).

When column types are known (from a schema), the settings are cast to them, so comparisons use
indexes.  Without types, columns are compared as text.  ``defaults=True`` also gives the tenant
and owner columns defaults from the settings, so that a statement run natively (not through
rowgate, which fills them in itself) gets the caller's values: only for an export asked for
that, never installed by rowgate into an app's tables.  Hidden columns have no row-policy
equivalent (column privileges belong to database roles, not to rowgate's groups): they are
listed in a comment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from sqlglot import exp

from rowgate.rls.owners import TRIGGER_MARK
from rowgate.rls.policy import OPERATIONS, PolicySet, TablePolicy, role_of
from rowgate.rls.schema import Schema, SchemaInput

#: The role ``data.role`` names unless configured otherwise.
DEFAULT_ROLE = "rowgate_data"
SETTINGS = {"tenant": "rowgate.org_id", "user": "rowgate.user_id"}
#: The setting that names the policy version a transaction runs under.
VERSION_SETTING = "rowgate.policy"
#: The comment that marks a policy as rowgate's, followed by the digest of its text.
COMMENT_PREFIX = "rowgate "
_MAX_NAME = 63  # PostgreSQL's identifier length


@dataclass(frozen=True, slots=True)
class NativePolicy:
    """One native policy: its table (``schema.name``), name, ``CREATE POLICY`` text, and the
    version of the policy file it belongs to."""

    table: str
    name: str
    create: str
    version: str

    @property
    def comment(self) -> str:
        """The comment rowgate puts on the policy: a digest of its text, and its version."""
        return f"{COMMENT_PREFIX}{hashlib.sha256(self.create.encode()).hexdigest()[:16]} {self.version}"

    def statements(self) -> list[str]:
        on = f"{ident(self.name)} ON {relation(self.table)}"
        return [f"DROP POLICY IF EXISTS {on};", self.create, f"COMMENT ON POLICY {on} IS '{self.comment}';"]


@dataclass(frozen=True, slots=True)
class OwnerTrigger:
    """The owner rule of one table as a trigger and its function (``create``), or, with no
    ``create``, their removal (the table has no owner rule)."""

    table: str
    create: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """``rowgate_<table>_owner``, or a digest of the table's name when that is too long."""
        name = f"rowgate_{self.table.partition('.')[2]}_owner"
        if len(name.encode()) <= _MAX_NAME:
            return name
        return f"rowgate_owner_{hashlib.sha256(self.table.encode()).hexdigest()[:16]}"

    @property
    def function(self) -> str:
        return f"{ident(self.table.partition('.')[0])}.{ident(self.name)}"

    @property
    def comment(self) -> str:
        """The comment rowgate puts on the trigger: a digest of its text."""
        return f"{COMMENT_PREFIX}{hashlib.sha256(chr(10).join(self.create).encode()).hexdigest()[:16]}"

    def statements(self) -> list[str]:
        on = f"{ident(self.name)} ON {relation(self.table)}"
        drop = f"DROP TRIGGER IF EXISTS {on};"
        if not self.create:
            return [drop, f"DROP FUNCTION IF EXISTS {self.function}();"]
        return [drop, *self.create, f"COMMENT ON TRIGGER {on} IS '{self.comment}';"]


@dataclass(frozen=True, slots=True)
class TableWall:
    """What the wall puts on one served table (``schema.name``): the role's privileges, the
    sequences it may use, the native policies and whether row security is enabled (not for views
    and foreign tables), comments for a reader, and column defaults (exports that ask for them)."""

    table: str
    privileges: tuple[str, ...]
    sequences: tuple[str, ...] = ()
    policies: tuple[NativePolicy, ...] = ()
    row_security: bool = True
    notes: tuple[str, ...] = ()
    defaults: tuple[str, ...] = ()
    owner: OwnerTrigger | None = None

    def statements(self, role: str, *, enable: bool = True) -> list[str]:
        name, to = relation(self.table), ident(role)
        lines = [f"-- {self.table}", *(f"-- {note}" for note in self.notes)]
        lines.append(f"REVOKE ALL ON TABLE {name} FROM {to};")
        if self.privileges:
            lines.append(f"GRANT {', '.join(self.privileges)} ON TABLE {name} TO {to};")
        lines += [f"GRANT USAGE ON SEQUENCE {relation(s)} TO {to};" for s in self.sequences]
        if self.row_security and enable:
            lines.append(f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY;")
        elif self.row_security:
            lines.append(f"-- ALTER TABLE {name} ENABLE ROW LEVEL SECURITY;  (see NEEDS YOUR ATTENTION)")
        for policy in self.policies:
            lines += policy.statements()
        if self.owner is not None:
            lines += self.owner.statements()
        return lines + list(self.defaults)


@dataclass(frozen=True, slots=True)
class Wall:
    """The whole second wall for one policy file: the role, who switches to it, every table."""

    role: str
    login: str | None
    tables: tuple[TableWall, ...]
    version: str = ""
    header: str = ""

    @property
    def schemas(self) -> tuple[str, ...]:
        return tuple(sorted({t.table.split(".", 1)[0] for t in self.tables}))

    def role_statements(self) -> list[str]:
        """Create the role (a no-op when it exists, even when another process creates it at the
        same moment) and let ``login`` switch to it.  Each runs on its own: roles are shared by
        every database of the server."""
        statements = [create_role(self.role)]
        if self.login:
            statements.append(grant_membership(self.role, self.login))
        return statements

    def table_statements(self, hold: Collection[str] = ()) -> list[str]:
        """Grants, row security and policies: one transaction, run by the tables' owner.  Row
        security stays off on the tables of ``hold`` (enabling it would lock others out)."""
        to = ident(self.role)
        lines = [f"GRANT USAGE ON SCHEMA {ident(s)} TO {to};" for s in self.schemas]
        for table in self.tables:
            lines += ["", *table.statements(self.role, enable=table.table not in hold)]
        return lines

    def script(
        self,
        *,
        role_fixes: Sequence[str] = (),
        table_fixes: Sequence[str] = (),
        attention: Sequence[str] = (),
        hold: Collection[str] = (),
    ) -> str:
        """The whole wall as one SQL script for psql.  From a look at the database: ``role_fixes``
        and ``table_fixes``, statements that mend what else is wrong there (a role attribute, a
        stale policy), ``attention``, problems only a person can solve, and ``hold``, tables
        whose row security is left for that person to enable."""
        lines = [f"-- {self.header}"] if self.header else []
        lines += [
            "-- rowgate's second wall: the role every data API statement runs as, its grants, and",
            "-- native policies that confine it as rowgate's own rewriting does.  Run it as a superuser,",
            "-- or as a role that may create roles and owns the served tables.",
            *(f"-- NEEDS YOUR ATTENTION: {line}" for line in attention),
            *self.role_statements(),
            *role_fixes,
        ]
        if not self.login:
            lines.append(f"-- and: GRANT {ident(self.role)} TO <the role rowgate connects as>;")
        lines += ["BEGIN;", *self.table_statements(hold), *table_fixes, "COMMIT;"]
        return "\n".join(lines) + "\n"


def plan_wall(
    policies: PolicySet,
    schema: Schema | SchemaInput | None = None,
    *,
    role: str = DEFAULT_ROLE,
    login: str | None = None,
    tables: Mapping[str, str] | None = None,
    sequences: Mapping[str, Sequence[str]] | None = None,
    native: bool = True,
    defaults: bool = False,
) -> Wall:
    """The wall for ``policies``.  ``tables``: the relation kind (``pg_class.relkind``) of each
    table the database has (``None``: every policy's table, as a plain table); ``sequences``:
    those each table's defaults draw from; ``native``: with the row policies."""
    known = schema if isinstance(schema, Schema) else Schema(schema, policies.schema)
    walls = []
    for table in policies.tables.values():
        kind = "r" if tables is None else tables.get(table.qualified)
        if kind is None:
            continue
        types = known.types(table.qualified)
        native_here = native and kind in ROW_SECURITY_KINDS
        walls.append(
            TableWall(
                table.qualified,
                tuple(op.upper() for op in OPERATIONS if table.groups(op)),
                tuple((sequences or {}).get(table.qualified, ())),
                _policies(table, role, types, policies.version) if native_here else (),
                native_here,
                _notes(table, kind),
                _defaults(table, types) if defaults else (),
                owner_trigger(table, types) if native_here else None,
            )
        )
    header = (
        f"rowgate policies {policies.version}, exported from {policies.source}; a transaction meets "
        f"them when it sets rowgate.policy = '{policies.version}' (rowgate does)"
    )
    return Wall(role, login, tuple(walls), policies.version, header)


def export_postgres(
    policies: PolicySet,
    schema: Schema | SchemaInput | None = None,
    *,
    role: str = DEFAULT_ROLE,
    login: str | None = None,
    defaults: bool = False,
) -> str:
    """The second wall for ``policies`` as one SQL script (see the module's docstring)."""
    return plan_wall(policies, schema, role=role, login=login, defaults=defaults).script()


#: Relation kinds that can hold row policies: ordinary and partitioned tables.
ROW_SECURITY_KINDS = frozenset({"r", "p"})


def policy_name(table: str, operation: str, group: str, version: str) -> str:
    """``rowgate_<table>_<operation>_<group>_<version>``; when that is longer than PostgreSQL
    keeps (it would truncate, and two long names could become one), its head and a digest."""
    name = f"rowgate_{table}_{operation}_{group}_{version[:8]}"
    if len(name.encode()) <= _MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    head = name.encode()[: _MAX_NAME - 9].decode(errors="ignore")
    return f"{head}_{digest}"


def _policies(
    table: TablePolicy, role: str, types: Mapping[str, str], version: str
) -> tuple[NativePolicy, ...]:
    found = []
    for operation in OPERATIONS:
        for group in sorted(table.groups(operation)):
            name = policy_name(table.name, operation, group, version)
            clause = _clauses(operation, _condition(table, group, types, version))
            create = (
                f"CREATE POLICY {ident(name)} ON {relation(table.qualified)} AS PERMISSIVE "
                f"FOR {operation.upper()} TO {ident(role)} {clause};"
            )
            found.append(NativePolicy(table.qualified, name, create, version))
    return tuple(found)


def _notes(table: TablePolicy, kind: str) -> tuple[str, ...]:
    notes = []
    hidden = {group: sorted(cols) for group, cols in table.hidden.items() if cols}
    if hidden:
        notes.append(f"hidden columns (not expressible as row policies): {hidden}")
    if kind not in ROW_SECURITY_KINDS:
        notes.append("a view or foreign table holds no row policies: rowgate's rewriting alone confines it")
    return tuple(notes)


def _defaults(table: TablePolicy, types: Mapping[str, str]) -> tuple[str, ...]:
    lines = []
    for column, slot in ((table.tenant_column, "tenant"), (table.owner_column, "user")):
        if column and column in types:
            default = f"(NULLIF(current_setting('{SETTINGS[slot]}', true), ''))::{types[column]}"
            lines.append(
                f"ALTER TABLE {relation(table.qualified)} ALTER COLUMN {ident(column)} SET DEFAULT {default};"
            )
    return tuple(lines)


def owner_trigger(table: TablePolicy, types: Mapping[str, str]) -> OwnerTrigger:
    """The owner rule of ``rls.owners`` as a trigger (its removal when the table has none)."""
    trigger = OwnerTrigger(table.qualified)
    owner = table.owner_column
    if owner is None or table.owner_writable or (types and owner not in types):
        return trigger  # no rule (or a table without the column, when its columns are known)
    setting = f"NULLIF(current_setting('{SETTINGS['user']}', true), '')"
    new = f"NEW.{ident(owner)}"
    # Only where row security binds the caller (not a superuser or a BYPASSRLS role: the app's
    # own maintenance writes), as the policies themselves.
    forged = "row_security_active(TG_RELID) AND " + (
        f"{new} IS DISTINCT FROM ({setting})::{types[owner]}"
        if owner in types
        else f"{new}::text IS DISTINCT FROM {setting}"
    )
    events = [op.upper() for op in ("insert", "update") if "admin" in table.groups(op)]
    if table.tenant_column and events:
        admin = "'admin' = ANY (string_to_array(current_setting('rowgate.groups', true), ','))"
        operations = ", ".join(f"'{event}'" for event in events)
        forged += f" AND NOT (TG_OP IN ({operations}) AND {admin})"
    message = f'new row violates row-level security policy {TRIGGER_MARK} for table "{table.name}"'
    name, function = relation(table.qualified), trigger.function
    create = (
        f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $rowgate$ "
        f"BEGIN IF {forged} THEN RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = "
        f"{literal(message)}; END IF; RETURN NEW; END $rowgate$;",
        f"CREATE TRIGGER {ident(trigger.name)} BEFORE INSERT OR UPDATE OF {ident(owner)} ON {name} "
        f"FOR EACH ROW EXECUTE FUNCTION {function}();",
    )
    return OwnerTrigger(table.qualified, create)


def _clauses(operation: str, condition: str) -> str:
    if operation == "insert":
        return f"WITH CHECK ({condition})"
    if operation == "update":
        return f"USING ({condition}) WITH CHECK ({condition})"
    return f"USING ({condition})"


def _condition(table: TablePolicy, group: str, types: Mapping[str, str], version: str) -> str:
    parts = [f"(SELECT current_setting('{VERSION_SETTING}', true)) = {literal(version)}"]
    role = role_of(group)
    if role is not None:
        parts.append(f"(SELECT current_setting('rowgate.role', true)) = {literal(role)}")
    elif group != "self":
        groups = "string_to_array(current_setting('rowgate.groups', true), ',')"
        parts.append(f"(SELECT {literal(group)} = ANY ({groups}))")
    if table.tenant_column:
        parts.append(_equals(table.tenant_column, "tenant", types))
    if group == "self" and table.owner_column:
        parts.append(_equals(table.owner_column, "user", types))
    restriction = table.filters.get(group)
    if restriction is not None:
        parts.append(f"({restriction.sql('postgres')})")
    return " AND ".join(parts)


def _equals(column: str, slot: str, types: Mapping[str, str]) -> str:
    setting = f"NULLIF(current_setting('{SETTINGS[slot]}', true), '')"
    if column in types:
        return f"{ident(column)} = (SELECT ({setting})::{types[column]})"
    return f"{ident(column)}::text = (SELECT {setting})"


def create_role(role: str) -> str:
    """Create ``role`` (NOLOGIN) unless it exists, tolerating another session creating it at the
    same moment (``duplicate_object``, or ``unique_violation`` on the catalog's index)."""
    return _do(
        f"CREATE ROLE {ident(role)} NOLOGIN;\nEXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;"
    )


def grant_membership(role: str, login: str) -> str:
    """Let ``login`` ``SET ROLE`` to ``role`` unless it already can (a superuser always can)."""
    return _do(
        f"IF NOT pg_has_role({literal(login)}, {literal(role)}, 'MEMBER') THEN\n"
        f"  GRANT {ident(role)} TO {ident(login)};\nEND IF;\n"
        "EXCEPTION WHEN unique_violation THEN NULL;"
    )


def _do(body: str) -> str:
    tag = "$rowgate$"
    while tag in body:
        tag = tag[:-1] + "_$"
    return f"DO {tag} BEGIN\n{body}\nEND {tag};"


def ident(name: str) -> str:
    """``name`` as a quoted PostgreSQL identifier."""
    return exp.Identifier(this=name, quoted=True).sql("postgres")


def relation(qualified: str) -> str:
    """``schema.name`` as a quoted, qualified PostgreSQL name."""
    schema, _, name = qualified.partition(".")
    return f"{ident(schema)}.{ident(name)}"


def literal(value: str) -> str:
    """``value`` as a standard PostgreSQL string literal."""
    return "'" + value.replace("'", "''") + "'"
