"""Native PostgreSQL policies with the same meaning as a policy file: a second, database-side
layer (``rowgate policy export --format postgres``).

For each table: ``ENABLE`` and ``FORCE ROW LEVEL SECURITY`` (so the table owner is confined
too), then one permissive policy per operation and group, which PostgreSQL ORs together just as
the rewriter does::

    CREATE POLICY "rowgate_tasks_update_self" ON "public"."tasks" AS PERMISSIVE FOR UPDATE TO PUBLIC
      USING ("org_id" = <tenant> AND "created_by" = <user>) WITH CHECK (...same...)

The caller comes from the settings ``rls.execute`` sets per transaction: ``rowgate.user_id``,
``rowgate.org_id``, ``rowgate.role`` and ``rowgate.groups`` (comma-separated), read with
``current_setting(name, true)`` (NULL when unset, and '' turned into NULL).  Group membership is
``'admin' = ANY (string_to_array(current_setting('rowgate.groups', true), ','))``; ``self``
needs only the owner comparison, which no row passes without a user; ``role:<name>`` is
``current_setting('rowgate.role', true) = '<name>'``.  Policy names longer than PostgreSQL's
63 bytes end in a hash of the whole name, so that truncation never makes two policies one.

When column types are known (from a schema), the settings are cast to them, so comparisons use
indexes, and the tenant and owner columns get defaults from the settings, which is how an
INSERT that leaves them out gets the caller's values natively.  Without types, columns are
compared as text and no defaults are set.  Hidden columns have no row-policy equivalent
(column privileges belong to database roles, not to rowgate's groups): they are listed in a
comment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from sqlglot import exp

from rls.policy import OPERATIONS, PolicySet, TablePolicy, role_of
from rls.schema import Schema, SchemaInput

SETTINGS = {"tenant": "rowgate.org_id", "user": "rowgate.user_id"}


def export_postgres(policies: PolicySet, schema: Schema | SchemaInput | None = None) -> str:
    """``ALTER TABLE`` and ``CREATE POLICY`` statements equivalent to ``policies``."""
    known = schema if isinstance(schema, Schema) else Schema(schema, policies.schema)
    lines = [
        f"-- rowgate policies {policies.version}, exported from {policies.source}",
        "-- The caller is read from settings rowgate sets per transaction with set_config(..., true):",
        "--   rowgate.user_id, rowgate.org_id, rowgate.role, rowgate.groups (comma-separated).",
        "BEGIN;",
    ]
    for table in policies.tables.values():
        lines.extend(_table(table, known.types(table.qualified)))
    lines.append("COMMIT;")
    return "\n".join(lines) + "\n"


def _table(table: TablePolicy, types: Mapping[str, str]) -> list[str]:
    name = f"{_ident(table.schema)}.{_ident(table.name)}"
    lines = ["", f"-- {table.qualified}"]
    hidden = {group: sorted(cols) for group, cols in table.hidden.items() if cols}
    if hidden:
        lines.append(f"-- hidden columns (not expressible as row policies): {hidden}")
    lines += [
        f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY;",
        f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY;",
    ]
    for operation in OPERATIONS:
        for group in sorted(table.groups(operation)):
            policy = _ident(_policy_name(f"rowgate_{table.name}_{operation}_{group}"))
            condition = _condition(table, group, types)
            clause = _clauses(operation, condition)
            lines.append(f"DROP POLICY IF EXISTS {policy} ON {name};")
            lines.append(
                f"CREATE POLICY {policy} ON {name} AS PERMISSIVE FOR {operation.upper()} TO PUBLIC {clause};"
            )
    for column, slot in ((table.tenant_column, "tenant"), (table.owner_column, "user")):
        if column and column in types:
            default = f"(NULLIF(current_setting('{SETTINGS[slot]}', true), ''))::{types[column]}"
            lines.append(f"ALTER TABLE {name} ALTER COLUMN {_ident(column)} SET DEFAULT {default};")
    return lines


def _clauses(operation: str, condition: str) -> str:
    if operation == "insert":
        return f"WITH CHECK ({condition})"
    if operation == "update":
        return f"USING ({condition}) WITH CHECK ({condition})"
    return f"USING ({condition})"


def _condition(table: TablePolicy, group: str, types: Mapping[str, str]) -> str:
    parts = []
    role = role_of(group)
    if role is not None:
        parts.append(f"current_setting('rowgate.role', true) = {_literal(role)}")
    elif group != "self":
        groups = "string_to_array(current_setting('rowgate.groups', true), ',')"
        parts.append(f"{_literal(group)} = ANY ({groups})")
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
        return f"{_ident(column)} = ({setting})::{types[column]}"
    return f"{_ident(column)}::text = {setting}"


def _ident(name: str) -> str:
    return exp.Identifier(this=name, quoted=True).sql("postgres")


def _literal(value: str) -> str:
    return exp.Literal.string(value).sql("postgres")


#: PostgreSQL's longest identifier (NAMEDATALEN - 1), in bytes; longer ones are truncated.
MAX_NAME = 63


def _policy_name(name: str) -> str:
    if len(name.encode()) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    head = name.encode()[: MAX_NAME - 9].decode(errors="ignore")
    return f"{head}_{digest}"
