"""Small pure pieces: subjects, names, the function allowlist, the static new-row checks, the
leakproof test, and the export text."""

from __future__ import annotations

import re

import pytest
import sqlglot
from sqlglot import exp

from rowgate.proxy.data.bounded import bounded
from rowgate.rls.export import create_role, export_postgres, plan_wall, policy_name
from rowgate.rls.functions import POSTGRES, FunctionPolicy, never_allowed
from rowgate.rls.grants import grant
from rowgate.rls.names import dialect_of, fold, is_catalog, parse_name
from rowgate.rls.newrow import NULL, OLD, UNKNOWN, Check, bound, evaluate, literal_value
from rowgate.rls.policy import parse_policies
from rowgate.rls.pushdown import leakproof_column
from rowgate.rls.subject import Subject
from tests.rls import world

PG = dialect_of("postgres")


def test_a_subject_knows_its_signature_and_rejects_bad_values() -> None:
    subject = Subject("u", "t", frozenset({"user", "admin"}), "owner")

    assert subject.signature == (("admin", "user"), True, True)
    assert Subject.guest("t").signature == (("guest",), False, True)
    for bad in (
        lambda: Subject(groups=frozenset({"self"})),
        lambda: Subject(user_id=""),
        lambda: Subject(tenant_id="a\nb"),
        lambda: Subject(tenant_id="x" * 257),
    ):
        with pytest.raises(ValueError):  # noqa: PT011 - the message is checked by the CLI tests
            bad()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tasks", (None, "tasks")),
        ("Public.Tasks", ("public", "tasks")),
        ('"Odd Name"', (None, "Odd Name")),
        ('app."X"', ("app", "X")),
        ("a b", None),
        ("a.b.c", None),
        ("", None),
    ],
)
def test_names_fold_like_the_dialect(text: str, expected: tuple[str | None, str] | None) -> None:
    assert parse_name(text, PG) == expected


def test_folding_per_dialect() -> None:
    assert fold("Tasks", False, dialect_of("snowflake")) == "TASKS"
    assert fold("Tasks", True, dialect_of("snowflake")) == "Tasks"
    assert fold("TÄSKS", False, PG) == "tÄsks"  # PostgreSQL folds ASCII letters only
    assert is_catalog(None, "pg_class")
    assert is_catalog("information_schema", "tables")
    assert not is_catalog("public", "pages")


POSTGRES_CALLS = (
    "lower(a)",
    "upper(a)",
    "length(a)",
    "substr(a, 1, 2)",
    "trim(a)",
    "concat(a, b)",
    "coalesce(a, b)",
    "nullif(a, b)",
    "greatest(a, b)",
    "abs(a)",
    "round(a, 2)",
    "now()",
    "date_trunc('day', a)",
    "extract(year FROM a)",
    "date_part('year', a)",
    "age(a)",
    "to_char(a, 'YYYY')",
    "count(*)",
    "sum(a)",
    "avg(a)",
    "array_agg(a)",
    "string_agg(a, ',')",
    "bool_and(a)",
    "row_number() OVER ()",
    "lag(a) OVER ()",
    "json_build_object('a', a)",
    "jsonb_build_object('a', a)",
    "to_json(a)",
    "json_agg(a)",
    "jsonb_agg(a)",
    "array_length(a, 1)",
    "unnest(a)",
    "generate_series(1, 2)",
    "replace(a, 'b', 'c')",
    "split_part(a, ',', 1)",
    "position('a' IN b)",
    "strpos(a, 'b')",
    "left(a, 2)",
    "md5(a)",
    "gen_random_uuid()",
    "random()",
    "regexp_replace(a, 'b', 'c')",
    "format('%s', a)",
    "CAST(a AS int)",
    "a::text",
    "a -> 'b'",
    "a ->> 'b'",
    "a @> b",
    "a ~ 'x'",
    "CASE WHEN a THEN 1 END",
    "EXISTS (SELECT 1)",
    "ARRAY[1, 2]",
    "ROW(1, 2)",
    "a = ANY(b)",
    "percentile_cont(0.5) WITHIN GROUP (ORDER BY a)",
    "count(DISTINCT a) FILTER (WHERE b)",
    "to_tsvector(a) @@ to_tsquery('x')",
    "a AND b OR NOT c",
)


@pytest.mark.parametrize("call", POSTGRES_CALLS)
def test_common_postgresql_functions_are_allowed(call: str) -> None:
    policy = FunctionPolicy("postgres")
    node = sqlglot.parse_one(f"SELECT {call}", read="postgres")

    assert [policy.refusal(f) for f in node.find_all(exp.Func) if policy.refusal(f)] == []


@pytest.mark.parametrize(
    "name",
    [
        "pg_read_file",
        "query_to_xml",
        "table_to_xml",
        "dblink",
        "dblink_exec",
        "lo_import",
        "set_config",
        "current_setting",
        "pg_sleep",
        "ts_stat",
        "nextval",
        "setval",
        "to_regclass",
        "has_table_privilege",
        "version",
        "current_user",
        "inet_server_addr",
        "pg_terminate_backend",
    ],
)
def test_dangerous_functions_are_never_allowed(name: str) -> None:
    assert never_allowed(name)
    assert name not in POSTGRES


def test_the_policy_file_adjusts_the_allowlist() -> None:
    policy = FunctionPolicy("postgres", allow=["my_slug"], deny=["random"])
    call = sqlglot.parse_one("SELECT my_slug(a), random(), lower(a)", read="postgres")
    refusals = [policy.refusal(f) for f in call.find_all(exp.Func)]

    assert refusals == [None, "function rand is not allowed", None]


def test_other_dialects_get_the_common_list() -> None:
    call = sqlglot.parse_one("SELECT age(a), lower(a)", read="duckdb")
    refusals = [FunctionPolicy("duckdb").refusal(f) for f in call.find_all(exp.Func)]

    assert refusals[0] is not None
    assert refusals[1] is None


@pytest.mark.parametrize(
    ("condition", "leakproof"),
    [
        ("a = 1", True),
        ("1 = a", True),
        ("a <> $1", True),
        ("a IN (1, 2, NULL)", True),
        ("a IS NOT NULL", True),
        ("a BETWEEN 1 AND -2", True),
        ("a LIKE 'x%'", True),
        ("NOT a LIKE 'x'", True),
        ("a = TRUE", True),
        ("a LIKE 'x\\'", False),
        ("a LIKE b", False),
        ("a ILIKE 'x'", False),
        ("lower(a) = 'x'", False),
        ("a + 1 = 2", False),
        ("a = b", False),
        ("a IN (SELECT 1)", False),
        ("CAST(a AS int) = 1", False),
        ("a = 1 / 0", False),
        ("s.t.a = 1", False),
    ],
)
def test_which_conditions_are_leakproof(condition: str, leakproof: bool) -> None:
    node = sqlglot.parse_one(condition, read="postgres")

    assert (leakproof_column(node) is not None) == leakproof


POLICIES = parse_policies(
    {
        "defaults": {"tenant_column": "org_id", "owner_column": "owner"},
        "tables": {
            "t": {
                "update": ["self"],
                "insert": ["user", "guest"],
                "filters": {"guest": "status IN ('a', 'b') AND n > 2"},
            }
        },
    }
)
TABLE = POLICIES.find(None, "t")


def _outcome(operation: str, groups: tuple[str, ...], values: dict[str, object], old: bool = False) -> object:
    assert TABLE is not None
    return evaluate(grant(TABLE, operation, (groups, True, True)), values, old)


def test_new_rows_pass_fail_or_wait_for_the_bound_values() -> None:
    tenant, owner = bound("tenant"), bound("user")
    lit = literal_value

    assert _outcome("insert", ("user",), {"org_id": tenant}) == ((),)
    assert _outcome("insert", ("user",), {"org_id": lit(exp.Literal.string("t1"))}) == ((("tenant", "t1"),),)
    assert _outcome("insert", ("user",), {"org_id": NULL}) == ()
    assert _outcome("insert", ("user",), {"org_id": UNKNOWN}) is None
    guest = {"org_id": tenant, "status": lit(exp.Literal.string("a")), "n": lit(exp.Literal.number(3))}
    assert _outcome("insert", ("guest",), guest) == ((),)
    assert _outcome("insert", ("guest",), {**guest, "n": lit(exp.Literal.number(2))}) == ()
    assert _outcome("insert", ("guest",), {**guest, "status": UNKNOWN}) is None
    assert _outcome("update", (), {"org_id": OLD, "owner": OLD}, old=True) == ((),)
    assert _outcome("update", (), {"org_id": OLD, "owner": lit(exp.Literal.string("u9"))}, old=True) == (
        (("user", "u9"),),
    )
    assert _outcome("update", (), {"org_id": OLD, "owner": owner}, old=True) == ((),)


def test_a_bind_check_holds_for_matching_values_only() -> None:
    check = Check(((("tenant", "t1"), ("user", "u1")), (("tenant", "t2"),)), "no")

    assert check.holds({"tenant": "t1", "user": "u1"})
    assert check.holds({"tenant": "t2", "user": None})
    assert not check.holds({"tenant": "t1", "user": "u2"})


def test_export_without_types_compares_as_text() -> None:
    text = export_postgres(world.world_policies())

    assert "\"org_id\"::text = (SELECT NULLIF(current_setting('rowgate.org_id', true), ''))" in text
    assert "SET DEFAULT" not in text
    assert text.count("CREATE POLICY") == 6 + 9 + 6 + 8  # one per table, operation and group


def test_export_with_types_casts_the_settings_and_sets_defaults_only_when_asked() -> None:
    text = export_postgres(world.world_policies(), world.world_schema(), defaults=True)

    assert "\"org_id\" = (SELECT (NULLIF(current_setting('rowgate.org_id', true), ''))::uuid)" in text
    assert (
        'ALTER TABLE "public"."tasks" ALTER COLUMN "created_by" SET DEFAULT '
        "(NULLIF(current_setting('rowgate.user_id', true), ''))::uuid;"
    ) in text
    assert (
        "(SELECT 'guest' = ANY (string_to_array(current_setting('rowgate.groups', true), ',')))"
        " AND (\"status\" = 'published')" in text
    )
    assert (
        "-- hidden columns (not expressible as row policies): "
        "{'user': ['internal_notes'], 'role:viewer': ['internal_notes']}"
    ) in text
    # role:<name> groups read the role setting; the policy is named after the group
    version = world.world_policies().version
    assert (
        f'CREATE POLICY "rowgate_notes_update_role:editor_{version[:8]}" ON "public"."notes" AS PERMISSIVE '
        "FOR UPDATE TO \"rowgate_data\" USING ((SELECT current_setting('rowgate.policy', true)) = "
        f"'{version}' AND (SELECT current_setting('rowgate.role', true)) = 'editor' AND "
    ) in text
    assert "SET DEFAULT" not in export_postgres(world.world_policies(), world.world_schema())


def test_the_exported_wall_is_a_least_privileged_role_with_exact_grants_and_its_own_policies() -> None:
    policies = parse_policies(
        {
            "version": 1,
            "defaults": {"tenant_column": "org_id"},
            "tables": {
                "tasks": {"select": ["user"], "insert": ["user"]},
                "audit": {"select": ["admin"]},
                "cities": {"tenant_column": None, "select": ["guest"]},
            },
        }
    )
    wall = plan_wall(
        policies,
        role="app_data",
        login="rowgate",
        tables={"public.tasks": "r", "public.audit": "r", "public.cities": "v"},
        sequences={"public.tasks": ["public.tasks_id_seq"]},
    )
    text = wall.script()

    assert text.index('CREATE ROLE "app_data" NOLOGIN;') < text.index("BEGIN;")
    assert "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;" in text
    assert 'GRANT "app_data" TO "rowgate";' in text
    assert 'GRANT SELECT, INSERT ON TABLE "public"."tasks" TO "app_data";' in text
    assert 'GRANT SELECT ON TABLE "public"."audit" TO "app_data";' in text
    assert 'GRANT USAGE ON SEQUENCE "public"."tasks_id_seq" TO "app_data";' in text
    assert 'GRANT USAGE ON SCHEMA "public" TO "app_data";' in text
    assert "TRUNCATE" not in text
    assert "FORCE" not in text
    # A view holds no row policies: granted, confined by the rewriter alone, and said so.
    assert 'ALTER TABLE "public"."cities"' not in text
    assert "a view or foreign table holds no row policies" in text
    creates = [line for line in text.splitlines() if line.startswith("CREATE POLICY")]
    assert len(creates) == 3
    assert all(' TO "app_data" ' in line for line in creates)
    comments = [line for line in text.splitlines() if line.startswith("COMMENT ON POLICY")]
    assert len(comments) == 3
    assert len({line.split(" IS ")[1] for line in comments}) == 3  # a digest each
    assert all(line.endswith(f" {policies.version}';") for line in comments)


def test_policy_names_fit_postgresql_identifiers() -> None:
    assert policy_name("tasks", "select", "user", "0123456789abcdef") == "rowgate_tasks_select_user_01234567"
    long = policy_name("t" * 60, "update", "admin", "0123456789abcdef")
    assert len(long.encode()) == 63
    assert long.startswith("rowgate_tttt")
    assert long != policy_name("t" * 60, "update", "admin", "fedcba9876543210")


def test_the_wall_s_dollar_quoting_survives_any_role_name() -> None:
    statement = create_role("a$rowgate$b")
    tag = statement.split(" ", 2)[1]
    assert tag != "$rowgate$"
    assert statement.count(tag) == 2


def test_an_answer_is_measured_column_by_column_when_the_names_differ() -> None:
    sql = bounded("SELECT 1", 1000, (("id", "uuid"), ("n", "int4"), ("title", "text"), ("meta", "jsonb")))

    assert sql.startswith('SELECT w."id", w."n", w."title", w."meta" FROM (SELECT "rowgate.row".*, sum(49 + ')
    assert 'coalesce(octet_length("rowgate.row"."title"), 0) + 1' in sql
    assert 'coalesce(octet_length("rowgate.row"."meta"::text), 0) + 1' in sql
    assert "WHEN w.\"rowgate.total\" <= 1000 THEN true ELSE CAST('rowgate answer limit: 1000'" in sql


def test_an_answer_with_repeated_names_is_measured_whole() -> None:
    for columns in ((("id", "int4"), ("id", "int4")), None, (("rowgate.total", "int4"),)):
        sql = bounded("SELECT 1", 1000, columns)
        assert sql.startswith('SELECT (w."rowgate.row").* FROM (SELECT "rowgate.row", sum(octet_length(')


def test_a_write_is_measured_in_a_with_of_its_own() -> None:
    sql = bounded("UPDATE t SET a = 1 RETURNING a", 1000, (("a", "int4"),), write=True)

    assert sql.startswith('WITH "rowgate.row" AS (UPDATE t SET a = 1 RETURNING a) SELECT w."a" FROM')
    assert 'FROM "rowgate.row") AS w WHERE' in sql


def test_long_policy_names_stay_distinct_within_postgresqls_limit() -> None:
    roles = ["r" * 40, "r" * 39 + "b"]  # alike up to where PostgreSQL would cut their policies' names
    policies = parse_policies(
        {
            "defaults": {"tenant_column": "org_id"},
            "tables": {"a_rather_long_table_name": {"select": [f"role:{r}" for r in roles]}},
        }
    )
    names = re.findall(r'CREATE POLICY "([^"]+)"', export_postgres(policies))

    assert len(names) == 2
    assert len(set(names)) == 2
    assert all(len(name.encode()) <= 63 for name in names)
