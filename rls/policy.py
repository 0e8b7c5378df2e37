"""The policy file: who may read and write which rows of which table.

::

    version: 1
    dialect: postgres            # the dialect filters are written in (and table names fold in)
    schema: public               # schema of table names written without one
    defaults: {tenant_column: org_id, owner_column: created_by}
    functions: {allow: [], deny: []}          # see rls.functions
    tables:
      tasks:
        select: [admin, user]                 # groups: admin, user, self, guest, role:<name>
        update: [admin, role:editor, self]    # self: rows whose owner column is the caller
        columns:
          all: [id, org_id, created_by, title, internal_notes]   # optional, else from the schema
          hidden: {user: [internal_notes]}
        filters: {guest: "status = 'published'"}                 # AND-ed to that group's rows
      posts:
        tenant_column: null                   # one table for every tenant ...
        shared: true                          # ... said on purpose: see "Tables shared by every tenant"
        insert: [user]                        # the owner column is the caller's id (cannot be forged)
        update: [self]
        owner_writable: false                 # true: non-admins may write other owners' ids

``load_policies(path)`` reads and validates a file; ``parse_policies(data, source=...)`` does the
same for a mapping already in memory.  Every problem is reported at once, one line each, as
``<file>: tables.<name>.<key>: <what was expected>, got <what was there>``, in a ``ConfigError``.

Tables shared by every tenant: a table without a tenant column whose insert, update or delete
grants a group other than ``self`` lets every tenant's callers write rows of all tenants (the
admin of any organisation could edit everyone's posts).  The file must say so with
``shared: true``, or it is refused; ``shared: true`` on a table with a tenant column is refused
too (it would mean nothing).

Owners: on a table with an owner column, a row a caller inserts, or whose owner column it sets,
must hold the caller's own id there unless the caller writes as the tenant's admin (``rls.owners``
says exactly when); ``owner_writable: true`` lifts that rule for the table.

``role:<name>`` is a group of the callers whose role (built-in, or an organisation's custom
role) is ``name``; given ``roles`` (the role names the deployment knows: ``rbac.roles`` and
``rbac.policy_roles``), a name outside them is a problem of the file.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from rowgate.errors import ConfigError
from rowgate.rls import filters as filter_rules
from rowgate.rls.functions import FunctionPolicy, never_allowed
from rowgate.rls.names import dialect_of, is_catalog, parse_column, parse_name
from rowgate.rls.policy_file import (
    OPERATIONS,
    POLICY_GROUPS,
    ROLE_PREFIX,
    Defaults,
    File,
    Table,
    read_file,
    role_of,
)
from rowgate.rls.subject import Signature, Subject
from rowgate.yamlfile import parse_yaml, read_text

__all__ = [
    "ACTIONS",
    "OPERATIONS",
    "POLICY_GROUPS",
    "PolicySet",
    "TablePolicy",
    "load_policies",
    "parse_policies",
    "role_of",
]

#: The action of each operation in a table permission (``tasks:read`` lets a caller select).
ACTIONS = {"select": "read", "insert": "create", "update": "update", "delete": "delete"}


@dataclass(frozen=True, slots=True, eq=False)
class TablePolicy:
    """One table's rules, with names folded and filters parsed."""

    schema: str
    name: str
    tenant_column: str | None
    owner_column: str | None
    operations: Mapping[str, frozenset[str]]
    hidden: Mapping[str, frozenset[str]]
    filters: Mapping[str, exp.Expr]
    filter_sql: Mapping[str, str]
    columns: tuple[str, ...] | None
    #: The table is one for every tenant on purpose (``shared: true``).
    shared: bool = False
    #: Callers outside a granting admin group may write any id into the owner column.
    owner_writable: bool = False
    #: ``schema.name``, the key of this table in ``PolicySet.tables`` (made once: rules look it
    #: up for every table of every statement they rewrite).
    qualified: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "qualified", f"{self.schema}.{self.name}")

    def groups(self, operation: str) -> frozenset[str]:
        """The policy groups that may run ``operation`` (empty: nobody may)."""
        return self.operations.get(operation, frozenset())

    def referenced_columns(self) -> frozenset[str]:
        """Every column the rules of this table name (tenant, owner, hidden and filter columns)."""
        names = {c for c in (self.tenant_column, self.owner_column) if c}
        names.update(col for cols in self.hidden.values() for col in cols)
        for expression in self.filters.values():
            names.update(column.name for column in expression.find_all(exp.Column))
        return frozenset(names)


@dataclass(frozen=True, slots=True, eq=False)
class PolicySet:
    """Every table's rules, the function allowlist, and a version for caches."""

    tables: Mapping[str, TablePolicy]
    schema: str
    dialect: str
    functions: FunctionPolicy
    version: str
    source: str

    #: Role names the tables name as ``role:<name>`` groups.
    roles: frozenset[str] = frozenset()

    def find(self, schema: str | None, name: str) -> TablePolicy | None:
        """The policy of ``schema.name`` (``schema`` defaults to the file's ``schema``)."""
        return self.tables.get(f"{schema or self.schema}.{name}")

    def resource(self, table: TablePolicy) -> str:
        """The resource of ``table`` in permissions: ``tasks`` (``tasks:read``), or
        ``app.tasks`` for a table outside the file's ``schema``."""
        return table.name if table.schema == self.schema else table.qualified

    def signature(self, subject: Subject) -> Signature:
        """What a rewrite for ``subject`` depends on: its signature, with its role as the group
        ``role:<name>`` when a table names that role (roles no table names never split the
        template cache)."""
        role = subject.role
        if role is None or role not in self.roles:
            return subject.signature
        groups, has_user, has_tenant = subject.signature
        return tuple(sorted((*groups, ROLE_PREFIX + role))), has_user, has_tenant


#: How to name another policy file, said when the file is missing.
NAME_THE_POLICY_FILE = (
    "write it, or name yours with the configuration's `policies` key, ROWGATE_POLICIES or --policies; "
    "`policies: null` runs rowgate without the data API"
)


#: Policy sets already read, by file, content digest and roles: the same file read again in one
#: process (every start of a server, a reload that changed nothing) is not validated again.  A
#: ``PolicySet`` is immutable, so one object serves every reader.  Only sets that passed are kept.
_LOADED: dict[tuple[str, str, frozenset[str] | None], PolicySet] = {}
_LOADED_MAX = 16


def load_policies(path: str | os.PathLike[str], *, roles: Collection[str] | None = None) -> PolicySet:
    """Read and validate the policy file at ``path``; a ``ConfigError`` lists every problem."""
    file = Path(path)
    text = read_text(file, missing=NAME_THE_POLICY_FILE)
    key = (str(file), hashlib.sha256(text.encode()).hexdigest(), None if roles is None else frozenset(roles))
    found = _LOADED.get(key)
    if found is None:
        found = parse_policies(parse_yaml(file, text), source=str(file), roles=roles)
        if len(_LOADED) >= _LOADED_MAX:
            _LOADED.clear()
        _LOADED[key] = found
    return found


def parse_policies(
    data: Mapping[str, Any], *, source: str = "<policies>", roles: Collection[str] | None = None
) -> PolicySet:
    """Validate a policy mapping (as read from YAML); a ``ConfigError`` lists every problem.

    ``roles``: the role names ``role:<name>`` groups may name (None: any well-formed name)."""
    problems: list[str] = []
    raw = read_file(data, problems)
    if raw is None:
        raise ConfigError([f"{source}: {line}" for line in problems])
    try:
        dialect = dialect_of(raw.dialect)
    except ValueError:
        raise ConfigError(
            [f"{source}: dialect: expected a sqlglot dialect name, got {raw.dialect!r}"]
        ) from None
    functions = _function_policy(raw, problems)
    tables: dict[str, TablePolicy] = {}
    for key, table in raw.tables.items():
        _check_roles(f"tables.{key}", table, roles, problems)
        compiled = _compile_table(key, table, raw, dialect, functions, problems)
        if compiled is not None:
            if compiled.qualified in tables:
                problems.append(f"tables.{key}: names the same table as another entry ({compiled.qualified})")
            tables[compiled.qualified] = compiled
    if problems:
        raise ConfigError([f"{source}: {line}" for line in problems])
    canonical = json.dumps(raw.canonical(), sort_keys=True, default=list)
    version = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    named = {role_of(g) for t in tables.values() for g in _groups_named(t)}
    roles_named = frozenset(r for r in named if r is not None)
    return PolicySet(tables, raw.default_schema, raw.dialect, functions, version, source, roles_named)


def _groups_named(table: TablePolicy) -> set[str]:
    named = {g for groups in table.operations.values() for g in groups}
    return named | set(table.hidden) | set(table.filters)


def _check_roles(where: str, raw: Table, roles: Collection[str] | None, problems: list[str]) -> None:
    if roles is None:
        return
    places = [(f"{where}.{op}[{i}]", g) for op in OPERATIONS for i, g in enumerate(getattr(raw, op))]
    places += [(f"{where}.columns.hidden.{g}", g) for g in raw.columns.hidden]
    places += [(f"{where}.filters.{g}", g) for g in raw.filters]
    for place, group in places:
        role = role_of(group)
        if role is not None and role not in roles:
            problems.append(
                f"{place}: expected a role of rbac.roles or rbac.policy_roles (custom roles a policy "
                f"names are declared there), got {group!r}"
            )


def _function_policy(raw: File, problems: list[str]) -> FunctionPolicy:
    for index, name in enumerate(raw.functions.allow):
        if parse_column(name, dialect_of(raw.dialect)) is None:
            problems.append(f"functions.allow[{index}]: expected a function name, got {name!r}")
        elif never_allowed(name):
            problems.append(
                f"functions.allow[{index}]: {name} can never be allowed: it can read outside the row "
                "filters (SQL in strings, files, settings, catalogs or the server), got it in the list"
            )
    return FunctionPolicy(raw.dialect, raw.functions.allow, raw.functions.deny)


def _compile_table(
    key: str, raw: Table, file: File, dialect: Dialect, functions: FunctionPolicy, problems: list[str]
) -> TablePolicy | None:
    where = f"tables.{key}"
    parsed = parse_name(key, dialect)
    if parsed is None:
        problems.append(f"{where}: expected a table name like tasks or app.tasks, got {key!r}")
        return None
    schema, name = parsed[0] or file.default_schema, parsed[1]
    if is_catalog(parsed[0], name):
        problems.append(f"{where}: system catalogs cannot be given a policy, got {key!r}")
        return None
    tenant = _column_setting(raw, file.defaults, "tenant_column", where, dialect, problems)
    owner = _column_setting(raw, file.defaults, "owner_column", where, dialect, problems)
    operations = {op: frozenset(getattr(raw, op)) for op in OPERATIONS}
    _check_self(where, operations, raw, owner, problems)
    _check_sharing(where, operations, raw, tenant, owner, problems)
    columns = _column_list(raw.columns.all, f"{where}.columns.all", dialect, problems)
    hidden = {
        group: frozenset(_column_list(cols, f"{where}.columns.hidden.{group}", dialect, problems) or ())
        for group, cols in raw.columns.hidden.items()
    }
    filters: dict[str, exp.Expr] = {}
    for group, text in raw.filters.items():
        compiled, problem = filter_rules.compile_filter(text, name, dialect, functions)
        if problem:
            problems.append(f"{where}.filters.{group}: {problem}")
        elif compiled is not None:
            filters[group] = compiled
    filter_sql: dict[str, str] = dict(raw.filters.items())
    hidden_sets: dict[str, frozenset[str]] = dict(hidden.items())
    policy = TablePolicy(
        schema,
        name,
        tenant,
        owner,
        operations,
        hidden_sets,
        filters,
        filter_sql,
        columns,
        shared=raw.shared,
        owner_writable=raw.owner_writable,
    )
    if columns is not None:
        missing = sorted(policy.referenced_columns() - set(columns))
        if missing:
            problems.append(f"{where}.columns.all: must list every column the rules use, missing {missing}")
    return policy


def _column_setting(
    raw: Table, defaults: Defaults, key: str, where: str, dialect: Dialect, problems: list[str]
) -> str | None:
    value = getattr(raw, key) if key in raw.written else getattr(defaults, key)
    if value is None:
        return None
    column = parse_column(value, dialect)
    if column is None:
        problems.append(f"{where}.{key}: expected a column name, got {value!r}")
    return column


def _column_list(
    values: tuple[str, ...] | None, where: str, dialect: Dialect, problems: list[str]
) -> tuple[str, ...] | None:
    if values is None:
        return None
    names = []
    for index, value in enumerate(values):
        column = parse_column(value, dialect)
        if column is None:
            problems.append(f"{where}[{index}]: expected a column name, got {value!r}")
        else:
            names.append(column)
    return tuple(names)


def _check_self(
    where: str, operations: Mapping[str, frozenset[str]], raw: Table, owner: str | None, problems: list[str]
) -> None:
    if owner is not None:
        return
    for op, groups in operations.items():
        if "self" in groups:
            problems.append(
                f"{where}.{op}: group self needs an owner_column (set one, or in defaults), got none"
            )
    for section, mapping in (("columns.hidden", raw.columns.hidden), ("filters", raw.filters)):
        if "self" in mapping:
            problems.append(f"{where}.{section}.self: group self needs an owner_column, got none")


#: Operations that change rows, and the groups that reach every tenant's rows of a table
#: without a tenant column (``self`` is confined to the caller's own rows).
WRITE_OPERATIONS = ("insert", "update", "delete")
_TENANT_WIDE = ("admin", "user", "guest")


def _check_sharing(
    where: str,
    operations: Mapping[str, frozenset[str]],
    raw: Table,
    tenant: str | None,
    owner: str | None,
    problems: list[str],
) -> None:
    if tenant is not None:
        if raw.shared:
            problems.append(
                f"{where}.shared: only a table without a tenant column (tenant_column: null) is shared, "
                f"got shared: true on a table confined to its tenant by {tenant}"
            )
    elif not raw.shared:
        for op in WRITE_OPERATIONS:
            wide = sorted(operations[op] & set(_TENANT_WIDE))
            if wide:
                problems.append(
                    f"{where}.{op}: the table has no tenant column, so {op} by {', '.join(wide)} reaches "
                    "every tenant's rows; grant it to self only, or say shared: true if that is meant, "
                    f"got {sorted(operations[op])}"
                )
    if raw.owner_writable and owner is None:
        problems.append(f"{where}.owner_writable: the table has no owner_column, got owner_writable: true")
