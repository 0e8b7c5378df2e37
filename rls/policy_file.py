"""The policy file as written: its keys and their types checked, every problem named with its key path.

``read_file(data, problems)`` turns a mapping (as read from YAML) into frozen dataclasses, or
appends one line per problem (``tables.tasks.select[0]: expected ..., got 'owner'``) and returns
None; ``rls.policy`` compiles what it returns.  Unknown keys are problems, as are values of the
wrong type (``shared: 'yes'``, ``select: admin``).  Files are read by ``rowgate.yamlfile``, which
imports PyYAML only then, so that the engine runs on a mapping with nothing but sqlglot installed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

OPERATIONS = ("select", "insert", "update", "delete")
POLICY_GROUPS = ("admin", "user", "self", "guest")
ROLE_PREFIX = "role:"
#: A role name, as the settings' ``rbac`` section spells them (``config.tenancy.ROLE_NAME``).
ROLE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")

T = TypeVar("T")


def role_of(group: str) -> str | None:
    """The role name of a ``role:<name>`` group (None for the other groups)."""
    return group[len(ROLE_PREFIX) :] if group.startswith(ROLE_PREFIX) else None


@dataclass(frozen=True, slots=True)
class Columns:
    all: tuple[str, ...] | None = None
    hidden: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Table:
    tenant_column: str | None = None
    owner_column: str | None = None
    shared: bool = False
    owner_writable: bool = False
    select: tuple[str, ...] = ()
    insert: tuple[str, ...] = ()
    update: tuple[str, ...] = ()
    delete: tuple[str, ...] = ()
    columns: Columns = Columns()
    filters: Mapping[str, str] = field(default_factory=dict)
    #: The keys the file wrote (a ``tenant_column: null`` written overrides the default).
    written: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Defaults:
    tenant_column: str | None = None
    owner_column: str | None = None


@dataclass(frozen=True, slots=True)
class Functions:
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class File:
    version: int = 1
    dialect: str = "postgres"
    default_schema: str = "public"
    defaults: Defaults = Defaults()
    functions: Functions = Functions()
    tables: Mapping[str, Table] = field(default_factory=dict)

    def canonical(self) -> dict[str, Any]:
        """Every setting, defaults included, keyed as the file spells them (for the version)."""
        return {
            "version": self.version,
            "dialect": self.dialect,
            "schema": self.default_schema,
            "defaults": _fields(self.defaults),
            "functions": _fields(self.functions),
            "tables": {name: _table_fields(table) for name, table in self.tables.items()},
        }


def read_file(data: Mapping[str, Any], problems: list[str]) -> File | None:
    """``data`` as a ``File``, or None after appending each problem to ``problems``."""
    start = len(problems)
    check = _Checker(problems)
    version = data.get("version", 1)
    if version != 1:
        problems.append(f"version: input should be 1, got {_shown(version)}")
    dialect = check.string(data.get("dialect", "postgres"), "dialect")
    schema = check.string(data.get("schema", "public"), "schema")
    defaults = check.section(data, "defaults", ("tenant_column", "owner_column"), _defaults)
    functions = check.section(data, "functions", ("allow", "deny"), _functions)
    tables = check.mapping(data.get("tables", {}), "tables") or {}
    read = {str(key): _table(check, value, f"tables.{key}") for key, value in tables.items()}
    check.known(data, ("version", "dialect", "schema", "defaults", "functions", "tables"), "")
    if len(problems) > start:
        return None
    return File(1, dialect, schema, defaults or Defaults(), functions or Functions(), read)


_TABLE_KEYS = ("tenant_column", "owner_column", "shared", "owner_writable", *OPERATIONS, "columns", "filters")


def _table(check: _Checker, value: Any, where: str) -> Table:
    raw = check.mapping(value, where)
    if raw is None:
        return Table()
    table = Table(
        tenant_column=check.optional_string(raw.get("tenant_column"), f"{where}.tenant_column"),
        owner_column=check.optional_string(raw.get("owner_column"), f"{where}.owner_column"),
        shared=check.boolean(raw.get("shared", False), f"{where}.shared"),
        owner_writable=check.boolean(raw.get("owner_writable", False), f"{where}.owner_writable"),
        select=check.groups(raw.get("select", ()), f"{where}.select"),
        insert=check.groups(raw.get("insert", ()), f"{where}.insert"),
        update=check.groups(raw.get("update", ()), f"{where}.update"),
        delete=check.groups(raw.get("delete", ()), f"{where}.delete"),
        columns=check.section(raw, f"{where}.columns", ("all", "hidden"), _columns) or Columns(),
        filters=check.by_group(raw.get("filters", {}), f"{where}.filters", check.string),
        written=frozenset(raw),
    )
    check.known(raw, _TABLE_KEYS, where)
    return table


def _defaults(check: _Checker, found: Mapping[str, Any], where: str) -> Defaults:
    return Defaults(
        check.optional_string(found.get("tenant_column"), f"{where}.tenant_column"),
        check.optional_string(found.get("owner_column"), f"{where}.owner_column"),
    )


def _functions(check: _Checker, found: Mapping[str, Any], where: str) -> Functions:
    allow = check.strings(found.get("allow", ()), f"{where}.allow")
    return Functions(allow, check.strings(found.get("deny", ()), f"{where}.deny"))


def _columns(check: _Checker, found: Mapping[str, Any], where: str) -> Columns:
    listed = found.get("all")
    return Columns(
        None if listed is None else check.strings(listed, f"{where}.all"),
        check.by_group(found.get("hidden", {}), f"{where}.hidden", check.strings),
    )


class _Checker:
    """Type checks that append ``<key path>: <what was expected>, got <what was there>``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems

    def fail(self, where: str, expected: str, value: Any) -> None:
        self.problems.append(f"{where}: input should be {expected}, got {_shown(value)}")

    def known(self, data: Mapping[str, Any], keys: tuple[str, ...], where: str) -> None:
        for key in data:
            if key not in keys:
                path = f"{where}.{key}" if where else str(key)
                self.problems.append(
                    f"{path}: unknown key (check the spelling; see the configuration reference)"
                )

    def mapping(self, value: Any, where: str) -> Mapping[str, Any] | None:
        if isinstance(value, Mapping):
            return value
        self.fail(where, "a valid dictionary", value)
        return None

    def section(
        self,
        data: Mapping[str, Any],
        where: str,
        keys: tuple[str, ...],
        read: Callable[[_Checker, Mapping[str, Any], str], T],
    ) -> T | None:
        """The section ``where`` of ``data`` (named by its last key) read by ``read``; None if absent."""
        key = where.rsplit(".", 1)[-1]
        found = self.mapping(data[key], where) if key in data else None
        if found is None:
            return None
        value = read(self, found, where)
        self.known(found, keys, where)
        return value

    def string(self, value: Any, where: str) -> str:
        if isinstance(value, str):
            return value
        self.fail(where, "a valid string", value)
        return ""

    def optional_string(self, value: Any, where: str) -> str | None:
        return None if value is None else self.string(value, where)

    def strings(self, value: Any, where: str) -> tuple[str, ...]:
        if not isinstance(value, list | tuple):
            self.fail(where, "a valid tuple", value)
            return ()
        return tuple(self.string(item, f"{where}[{index}]") for index, item in enumerate(value))

    def boolean(self, value: Any, where: str) -> bool:
        if isinstance(value, bool):
            return value
        self.fail(where, "a valid boolean", value)
        return False

    def group(self, value: Any, where: str) -> str:
        group = self.string(value, where)
        role = role_of(group)
        if group and (group in POLICY_GROUPS or (role is not None and ROLE_NAME.fullmatch(role))):
            return group
        if isinstance(value, str):
            self.problems.append(
                f"{where}: expected admin, user, self, guest or role:<role name>, got {value!r}"
            )
        return group

    def groups(self, value: Any, where: str) -> tuple[str, ...]:
        if not isinstance(value, list | tuple):
            self.fail(where, "a valid tuple", value)
            return ()
        return tuple(self.group(item, f"{where}[{index}]") for index, item in enumerate(value))

    def by_group(self, value: Any, where: str, read: Callable[[Any, str], T]) -> dict[str, T]:
        found = self.mapping(value, where) or {}
        return {
            self.group(key, f"{where}.{key}"): read(item, f"{where}.{key}") for key, item in found.items()
        }


def _fields(value: Defaults | Functions | Columns) -> dict[str, Any]:
    return {name: getattr(value, name) for name in value.__dataclass_fields__}


def _table_fields(table: Table) -> dict[str, Any]:
    fields = {name: getattr(table, name) for name in _TABLE_KEYS}
    fields["columns"] = _fields(table.columns)
    return fields


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
