# ruff: noqa: E501  (table-driven: one expected message per line)
"""Policy files: what a valid one means, and every way one can be wrong, each problem named with
the file, the table and the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rowgate.errors import ConfigError
from rowgate.rls.policy import load_policies, parse_policies
from rowgate.rls.rewrite import Rewriter
from rowgate.rls.subject import Subject

BASE: dict[str, Any] = {"defaults": {"tenant_column": "org_id", "owner_column": "created_by"}}


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_policies({**BASE, **data}, source="policies.yaml")
    return caught.value.problems


def one_table(table: dict[str, Any]) -> list[str]:
    return problems({"tables": {"tasks": table}})


def test_a_valid_file_compiles_tables_groups_and_filters() -> None:
    policies = parse_policies(
        {
            **BASE,
            "tables": {
                "tasks": {
                    "select": ["admin", "user"],
                    "update": ["self"],
                    "columns": {"hidden": {"user": ["notes"]}},
                },
                "app.posts": {
                    "tenant_column": None,
                    "select": ["guest"],
                    "filters": {"guest": "Status = 'x'"},
                },
            },
        }
    )

    tasks, posts = policies.find(None, "tasks"), policies.find("app", "posts")
    assert tasks is not None
    assert posts is not None
    assert (tasks.tenant_column, tasks.owner_column) == ("org_id", "created_by")
    assert tasks.groups("update") == {"self"}
    assert tasks.groups("delete") == frozenset()
    assert tasks.hidden == {"user": {"notes"}}
    assert posts.tenant_column is None
    assert posts.referenced_columns() == {"created_by", "status"}


def test_the_demo_policy_file_loads() -> None:
    policies = load_policies(Path("config/policies.yaml"))

    assert sorted(policies.tables) == ["public.posts", "public.projects", "public.tasks"]


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (
            {"selec": ["admin"]},
            "policies.yaml: tables.tasks.selec: unknown key (check the spelling; see the configuration reference)",
        ),
        (
            {"select": ["owner"]},
            "policies.yaml: tables.tasks.select[0]: expected admin, user, self, guest or role:<role name>, got 'owner'",
        ),
        (
            {"select": "admin"},
            "policies.yaml: tables.tasks.select: input should be a valid tuple, got 'admin'",
        ),
        (
            {"columns": {"hidden": {"owner": ["a"]}}},
            "policies.yaml: tables.tasks.columns.hidden.owner: expected admin, user, self, guest or role:<role name>, got 'owner'",
        ),
        (
            {"columns": {"shown": ["a"]}},
            "policies.yaml: tables.tasks.columns.shown: unknown key (check the spelling; see the configuration reference)",
        ),
        (
            {"filters": {"staff": "a = 1"}},
            "policies.yaml: tables.tasks.filters.staff: expected admin, user, self, guest or role:<role name>, got 'staff'",
        ),
        (
            {"filters": {"user": "status = "}},
            "policies.yaml: tables.tasks.filters.user: expected a SQL boolean expression, got 'status = ', which does not parse",
        ),
        (
            {"filters": {"user": "1 + 1"}},
            "policies.yaml: tables.tasks.filters.user: expected a SQL boolean expression, got '1 + 1'",
        ),
        (
            {"filters": {"user": "a = 1; b = 2"}},
            "policies.yaml: tables.tasks.filters.user: expected one SQL boolean expression, got 'a = 1; b = 2'",
        ),
        (
            {"filters": {"user": "projects.archived = false"}},
            "policies.yaml: tables.tasks.filters.user: filters may only use columns of table tasks (projects.archived is not one), got 'projects.archived = false'",
        ),
        (
            {"filters": {"user": "id IN (SELECT id FROM projects)"}},
            "policies.yaml: tables.tasks.filters.user: filters may not read other tables or use subqueries, got 'id IN (SELECT id FROM projects)'",
        ),
        (
            {"filters": {"user": "pg_sleep(1) IS NULL"}},
            "policies.yaml: tables.tasks.filters.user: function pg_sleep is not allowed, got 'pg_sleep(1) IS NULL'",
        ),
        (
            {"filters": {"user": "count(*) > 1"}},
            "policies.yaml: tables.tasks.filters.user: filters may not use aggregate or window functions, got 'count(*) > 1'",
        ),
        (
            {"filters": {"user": "id = $1"}},
            "policies.yaml: tables.tasks.filters.user: filters may not use *, parameters or commands, got 'id = $1'",
        ),
        (
            {"tenant_column": "org id"},
            "policies.yaml: tables.tasks.tenant_column: expected a column name, got 'org id'",
        ),
        (
            {"columns": {"all": ["id", "9x", "org_id", "created_by"]}},
            "policies.yaml: tables.tasks.columns.all[1]: expected a column name, got '9x'",
        ),
        (
            {"columns": {"all": ["id"]}},
            "policies.yaml: tables.tasks.columns.all: must list every column the rules use, missing ['created_by', 'org_id']",
        ),
        (
            {"owner_column": None, "update": ["self"]},
            "policies.yaml: tables.tasks.update: group self needs an owner_column (set one, or in defaults), got none",
        ),
        (
            {"owner_column": None, "filters": {"self": "a = 1"}},
            "policies.yaml: tables.tasks.filters.self: group self needs an owner_column, got none",
        ),
        (
            {"tenant_column": None, "update": ["admin", "self"]},
            "policies.yaml: tables.tasks.update: the table has no tenant column, so update by admin reaches every tenant's rows; grant it to self only, or say shared: true if that is meant, got ['admin', 'self']",
        ),
        (
            {"tenant_column": None, "delete": ["user"]},
            "policies.yaml: tables.tasks.delete: the table has no tenant column, so delete by user reaches every tenant's rows; grant it to self only, or say shared: true if that is meant, got ['user']",
        ),
        (
            {"tenant_column": None, "insert": ["guest"]},
            "policies.yaml: tables.tasks.insert: the table has no tenant column, so insert by guest reaches every tenant's rows; grant it to self only, or say shared: true if that is meant, got ['guest']",
        ),
        (
            {"shared": True, "select": ["user"]},
            "policies.yaml: tables.tasks.shared: only a table without a tenant column (tenant_column: null) is shared, got shared: true on a table confined to its tenant by org_id",
        ),
        (
            {"owner_column": None, "owner_writable": True},
            "policies.yaml: tables.tasks.owner_writable: the table has no owner_column, got owner_writable: true",
        ),
        (
            {"tenant_column": None, "shared": "yes", "update": ["admin"]},
            "policies.yaml: tables.tasks.shared: input should be a valid boolean, got 'yes'",
        ),
        (
            {"owner_writable": 1},
            "policies.yaml: tables.tasks.owner_writable: input should be a valid boolean, got 1",
        ),
        (
            {"tenant_column": None, "share": True},
            "policies.yaml: tables.tasks.share: unknown key (check the spelling; see the configuration reference)",
        ),
    ],
)
def test_a_table_problem_is_named(table: dict[str, Any], expected: str) -> None:
    assert one_table(table) == [expected]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"tables": {"pg_class": {}}},
            "policies.yaml: tables.pg_class: system catalogs cannot be given a policy, got 'pg_class'",
        ),
        (
            {"tables": {"information_schema.tables": {}}},
            "policies.yaml: tables.information_schema.tables: system catalogs cannot be given a policy, got 'information_schema.tables'",
        ),
        (
            {"tables": {"a b": {}}},
            "policies.yaml: tables.a b: expected a table name like tasks or app.tasks, got 'a b'",
        ),
        (
            {"tables": {"tasks": {}, "public.tasks": {}}},
            "policies.yaml: tables.public.tasks: names the same table as another entry (public.tasks)",
        ),
        (
            {"functions": {"allow": ["pg_sleep"]}},
            "policies.yaml: functions.allow[0]: pg_sleep can never be allowed: it can read outside the row filters (SQL in strings, files, settings, catalogs or the server), got it in the list",
        ),
        (
            {"functions": {"allow": ["query_to_xml"]}},
            "policies.yaml: functions.allow[0]: query_to_xml can never be allowed: it can read outside the row filters (SQL in strings, files, settings, catalogs or the server), got it in the list",
        ),
        (
            {"functions": {"allow": ["drop table"]}},
            "policies.yaml: functions.allow[0]: expected a function name, got 'drop table'",
        ),
        ({"dialect": "cobol"}, "policies.yaml: dialect: expected a sqlglot dialect name, got 'cobol'"),
        ({"version": 2}, "policies.yaml: version: input should be 1, got 2"),
        (
            {"tabels": {}},
            "policies.yaml: tabels: unknown key (check the spelling; see the configuration reference)",
        ),
    ],
)
def test_a_file_problem_is_named(data: dict[str, Any], expected: str) -> None:
    assert problems(data) == [expected]


def test_a_shared_table_may_open_its_writes_and_self_needs_no_word() -> None:
    policies = parse_policies(
        {
            **BASE,
            "tables": {
                "board": {"tenant_column": None, "shared": True, "insert": ["user"], "update": ["admin"]},
                "diary": {"tenant_column": None, "select": ["self"], "update": ["self"], "delete": ["self"]},
                "catalog": {"tenant_column": None, "select": ["admin", "user", "guest"]},
                "tasks": {"insert": ["user"], "owner_writable": True},
            },
        }
    )

    assert policies.tables["public.board"].shared
    assert not policies.tables["public.diary"].shared
    assert policies.tables["public.tasks"].owner_writable
    assert not policies.tables["public.board"].owner_writable


def test_the_shipped_and_test_policy_files_open_no_write_across_tenants() -> None:
    for path in ("config/policies.yaml", "tests/rls/data/policies.yaml", "tests/data/policies.yaml"):
        for table in load_policies(Path(path)).tables.values():
            if table.tenant_column is None:
                assert table.shared, (path, table.name)
                for operation in ("update", "delete"):
                    assert table.groups(operation) <= {"self"}, (path, table.name, operation)


def test_role_groups_name_roles_the_deployment_knows() -> None:
    table = {
        "select": ["admin", "role:viewer"],
        "update": ["role:editor", "self"],
        "columns": {"hidden": {"role:viewer": ["notes"]}},
        "filters": {"role:editor": "done = false"},
    }
    policies = parse_policies({**BASE, "tables": {"tasks": table}}, roles={"admin", "viewer", "editor"})
    tasks = policies.find(None, "tasks")

    assert tasks is not None
    assert tasks.groups("update") == {"role:editor", "self"}
    assert policies.roles == {"viewer", "editor"}
    with pytest.raises(ConfigError) as caught:
        parse_policies(
            {**BASE, "tables": {"tasks": table}}, source="policies.yaml", roles={"admin", "viewer"}
        )
    expected = "expected a role of rbac.roles or rbac.policy_roles (custom roles a policy names are declared there), got 'role:editor'"
    assert caught.value.problems == [
        f"policies.yaml: tables.tasks.update[0]: {expected}",
        f"policies.yaml: tables.tasks.filters.role:editor: {expected}",
    ]


@pytest.mark.parametrize("group", ["role:", "role:Editor", "role:a b", "role:" + "x" * 41, "roles:editor"])
def test_a_malformed_role_group_is_named(group: str) -> None:
    assert one_table({"select": [group]}) == [
        f"policies.yaml: tables.tasks.select[0]: expected admin, user, self, guest or role:<role name>, got {group!r}"
    ]


def test_the_signature_carries_a_role_only_when_a_table_names_it() -> None:
    policies = parse_policies({**BASE, "tables": {"tasks": {"select": ["user", "role:editor"]}}})
    editor = Subject("u", "t", frozenset({"user"}), "editor")
    member = Subject("u", "t", frozenset({"user"}), "member")

    assert policies.signature(editor) == (("role:editor", "user"), True, True)
    assert policies.signature(member) == member.signature == (("user",), True, True)


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        {
            "tables": {
                "tasks": {"filters": {"user": "x ="}},
                "projects": {"owner_column": None, "delete": ["self"]},
                "pg_authid": {},
            }
        }
    )

    assert [line.split(":")[1].strip() for line in found] == [
        "tables.tasks.filters.user",
        "tables.projects.delete",
        "tables.pg_authid",
    ]


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    broken = tmp_path / "broken.yaml"
    broken.write_text("tables: [unclosed\n")
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n")

    for file, expected in (
        (missing, "file not found"),
        (broken, "invalid YAML at line 2"),
        (listed, "expected a mapping of settings at the top level, got list"),
    ):
        with pytest.raises(ConfigError) as caught:
            load_policies(file)
        assert caught.value.problems[0].startswith(f"{file}: ")
        assert expected in caught.value.problems[0]


def test_the_version_follows_the_meaning_not_the_layout(tmp_path: Path) -> None:
    one = tmp_path / "one.yaml"
    two = tmp_path / "two.yaml"
    one.write_text("tables:\n  tasks: {select: [user], delete: [self], owner_column: by}\n")
    two.write_text(
        "# a comment\ntables:\n  tasks:\n    owner_column: by\n    delete: [self]\n    select: [user]\n"
    )
    changed = parse_policies(
        {"tables": {"tasks": {"select": ["user", "admin"], "delete": ["self"], "owner_column": "by"}}}
    )

    assert load_policies(one).version == load_policies(two).version
    assert load_policies(one).version != changed.version


def test_a_schema_that_does_not_fit_the_policies_is_a_config_error() -> None:
    policies = parse_policies(
        {**BASE, "tables": {"tasks": {"select": ["user"], "filters": {"user": "status = 'x'"}}}}
    )

    with pytest.raises(ConfigError) as caught:
        Rewriter(policies, schema={"tasks": ["id", "org_id"]})

    assert caught.value.problems == [
        "<policies>: tables.public.tasks: the rules name columns the table does not have: ['created_by', 'status']"
    ]
