"""The second wall: rowgate puts it up by itself (start-up, reload, ``rowgate migrate``), every
data API statement runs as its least-privileged role under the native policies, and a statement
that the rewriter let through by mistake still reaches nothing beyond the caller's rows: not
another tenant's row, not rowgate's own schema, not a server file.  Where rowgate's login may not
put it up (no CREATEROLE, not the tables' owner: managed PostgreSQL), ``mode: production`` closes
the data API until someone runs ``rowgate policy export --sql``, and ``mode: dev`` serves with a
loud warning."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import secrets
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import pytest

from rowgate.config import Settings
from rowgate.errors import Forbidden
from rowgate.proxy.appkeys import SERVICES
from rowgate.proxy.data.execute import RunAs
from rowgate.proxy.data.policy import DataPolicy, load_data_policy
from rowgate.proxy.data.reload import PolicyHolder
from rowgate.proxy.data.rest import DataApi
from rowgate.proxy.problem import status_of
from rowgate.rls.errors import WriteRefused
from rowgate.rls.export import DEFAULT_ROLE
from rowgate.rls.introspect import introspect
from rowgate.rls.policy import load_policies
from rowgate.rls.subject import Subject
from rowgate.rls.wall import Mend, inspect, install, plan_for
from tests import clikit
from tests.conftest import RunningServer, SettingsFactory
from tests.data import world
from tests.data.conftest import Client, Start
from tests.databases import ADMIN_URL, new_database

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def world_template(bare_world_template: str) -> str:
    """This file puts the second wall up itself: its world starts without one."""
    return bare_world_template


USER_A = Subject(world.USER_A, world.ORG_A, frozenset({"user"}), "member")
VERSION = load_policies(world.POLICIES).version[:8]
HASH = "$argon2id$v=19$m=19456,t=2,p=1$c2VjcmV0$the-hash-nobody-may-read"


def api_of(server: RunningServer) -> DataApi:
    return server.app[SERVICES].data


async def connect(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(url)


@pytest.fixture
async def private_role(world_database: str) -> AsyncIterator[str]:
    """A data role of this test's own (the shared ``rowgate_data`` is left to everyone else)."""
    name = f"rgwall_{uuid.uuid4().hex[:10]}"
    yield name
    await drop_roles(world_database, name)


async def drop_roles(database: str, *names: str) -> None:
    """Drop test roles (what they hold in ``database`` first)."""
    await drop_owned(database, *names)
    admin = await connect(ADMIN_URL)
    try:
        for name in names:
            await admin.execute(f'DROP ROLE IF EXISTS "{name}"')
    finally:
        await admin.close()


async def drop_owned(database: str, *names: str) -> None:
    conn = await connect(database)
    try:
        for name in names:
            if await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", name):
                await conn.execute(f'DROP OWNED BY "{name}"')
    finally:
        await conn.close()


async def wall_of(database: str, role: str = DEFAULT_ROLE, policies: Path = world.POLICIES) -> Any:
    conn = await connect(database)
    try:
        loaded = load_policies(policies)
        wall = await plan_for(conn, loaded, await introspect(conn, ["public"]), role=role, schemas=["public"])
        return wall, await inspect(conn, wall)
    finally:
        await conn.close()


async def test_rowgate_puts_the_wall_up_and_statements_run_as_its_role(
    server: RunningServer, client: Client, world_database: str
) -> None:
    assert api_of(server).policy.role == DEFAULT_ROLE
    _, found = await wall_of(world_database)
    assert found.up, found.problems

    conn = await connect(world_database)
    try:
        role = await conn.fetchrow(
            "SELECT rolsuper, rolbypassrls, rolcanlogin, rolcreaterole FROM pg_roles WHERE rolname = $1",
            DEFAULT_ROLE,
        )
        assert tuple(role.values()) == (False, False, False, False)
        assert not await conn.fetchval("SELECT has_schema_privilege($1, 'rowgate', 'USAGE')", DEFAULT_ROLE)
        assert not await conn.fetchval("SELECT has_table_privilege($1, 'unlisted', 'SELECT')", DEFAULT_ROLE)
        assert not await conn.fetchval("SELECT has_table_privilege($1, 'tasks', 'TRUNCATE')", DEFAULT_ROLE)
        policies = await conn.fetch(
            "SELECT tablename, roles FROM pg_policies WHERE policyname LIKE 'rowgate\\_%' ORDER BY 1"
        )
        assert {p["tablename"] for p in policies} == {"projects", "tasks", "posts"}
        assert all(p["roles"] == [DEFAULT_ROLE] for p in policies)
        # The database's own layer refuses what rowgate's would: as the role, without a caller's
        # settings, no row is there.
        async with conn.transaction():
            await conn.execute(f'SET LOCAL ROLE "{DEFAULT_ROLE}"')
            assert await conn.fetchval("SELECT count(*) FROM tasks") == 0
    finally:
        await conn.close()

    status, body = await client.call("GET", "/v1/data/tasks", "user_b", params={"limit": "1000"})
    assert status == 200, body
    assert sorted(r["id"] for r in body["data"]) == sorted(
        r["id"] for r in world.visible_tasks(world.CALLERS["user_b"])
    )
    status, body = await client.call("POST", "/v1/data/tasks", "user_b", json={"title": "behind two walls"})
    assert (status, body["data"]["org_id"]) == (201, world.ORG_B)


ORG_A_TASKS = len([t for t in world.seed_tasks() if t["org_id"] == world.ORG_A])


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT email, password_hash FROM rowgate.users",
        "SELECT secret FROM unlisted",
        "SELECT pg_read_file('/etc/passwd')",
        "SELECT rolname, rolpassword FROM pg_authid",
        "TRUNCATE tasks",
        "CREATE TABLE public.dropped_in (x int)",
        f"INSERT INTO tasks (org_id, title) VALUES ('{world.ORG_B}', 'planted')",
    ],
)
async def test_a_statement_the_rewriter_let_through_is_refused_by_the_wall(
    server: RunningServer, world_database: str, sql: str
) -> None:
    await _plant_a_user(world_database)
    with pytest.raises((Forbidden, WriteRefused)) as raised:
        await _unrewritten(api_of(server), sql)
    assert status_of(raised.value) == 403


@pytest.mark.parametrize(
    ("sql", "rows"),
    [
        ("SELECT org_id, title FROM tasks", ORG_A_TASKS),
        ("SELECT title FROM tasks WHERE org_id <> current_setting('rowgate.org_id')::uuid", 0),
        ("SELECT t.title FROM tasks t JOIN projects p ON p.org_id <> t.org_id", 0),
        (f"UPDATE tasks SET title = 'mine now' WHERE org_id = '{world.ORG_B}' RETURNING id", 0),
        ("DELETE FROM projects RETURNING id", 0),
    ],
)
async def test_a_statement_the_rewriter_let_through_reaches_only_the_callers_rows(
    server: RunningServer, sql: str, rows: int
) -> None:
    found = await _unrewritten(api_of(server), sql)
    assert len(found) == rows
    assert all(row.get("org_id") in (None, world.ORG_A) for row in found)


async def _unrewritten(api: DataApi, sql: str) -> list[dict[str, Any]]:
    """Run ``sql`` unmodified, as if the rewriter had a bug: the way the data API runs every
    statement (its transaction, its settings, its role) for a member of organisation A; rolled
    back, after checking that no row of another organisation changed."""
    found: list[dict[str, Any]] = []
    with contextlib.suppress(_RolledBack):
        async with api.runner.transaction(USER_A, run_as=api.policy.runs_as(), readonly=False) as session:
            before = await _other_tenants(session.conn)
            found = [dict(r) for r in await session.conn.fetch(sql)]
            assert await _other_tenants(session.conn) == before
            raise _RolledBack
    return found


class _RolledBack(Exception):
    pass


async def _other_tenants(conn: asyncpg.Connection) -> list[str]:
    """Every row outside organisation A, read as rowgate's login (the role reset for the read)."""
    role = await conn.fetchval("SELECT current_user")
    await conn.execute("RESET ROLE")
    try:
        rows = []
        for table in ("projects", "tasks", "posts"):
            found = await conn.fetch(
                f"SELECT * FROM {table} WHERE org_id IS DISTINCT FROM $1 ORDER BY id", world.ORG_A
            )
            rows += [f"{table}: {dict(r)}" for r in found]
        return rows
    finally:
        await conn.execute(f'SET LOCAL ROLE "{role}"')


async def _plant_a_user(database: str) -> None:
    conn = await connect(database)
    try:
        await conn.execute(
            "INSERT INTO rowgate.users (email, password_hash) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            "victim@example.com",
            HASH,
        )
    finally:
        await conn.close()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1 AS $$x, email, password_hash FROM rowgate.users --$$",
        "SELECT 1 AS $$x, org_id, title, internal_notes FROM public.tasks --$$",
        "SELECT 1 AS $q$x, pg_read_file('/etc/passwd') --$q$",
    ],
)
async def test_the_escapes_of_the_issue_find_nothing_through_sql(
    client: Client, world_database: str, sql: str
) -> None:
    await _plant_a_user(world_database)
    status, body = await client.call("POST", "/v1/sql", "user_a", json={"sql": sql})

    assert status in (200, 400, 403), body
    assert HASH not in str(body)
    assert "root:" not in str(body)
    assert world.ORG_B not in str(body)


@pytest.fixture
async def second_world() -> AsyncIterator[str]:
    """Another database holding the world (roles are shared by every database of the server)."""
    async with new_database() as url:
        conn = await connect(url)
        try:
            await world.build(conn)
        finally:
            await conn.close()
        yield url


async def test_several_processes_and_databases_create_the_same_role_at_once(
    world_database: str, second_world: str, private_role: str
) -> None:
    async def put_up(database: str) -> list[str]:
        conn = await connect(database)
        try:
            policies = load_policies(world.POLICIES)
            schema = await introspect(conn, ["public"])
            wall = await plan_for(conn, policies, schema, role=private_role, schemas=["public"])
            return (await install(conn, wall)).problems
        finally:
            await conn.close()

    try:
        results = await asyncio.gather(*(put_up(db) for db in [world_database, second_world] * 3))
        assert results == [[]] * 6
    finally:
        await drop_owned(second_world, private_role)


async def test_what_rowgate_mends_and_what_it_only_reports(world_database: str, private_role: str) -> None:
    wall, found = await wall_of(world_database, private_role)
    assert [f.problem for f in found.findings] == [f"the role {private_role} does not exist"]
    conn = await connect(world_database)
    try:
        assert (await install(conn, wall)).up
        assert (await install(conn, wall)).up  # nothing left to do: idempotent
        # Someone widens the role...
        await conn.execute(f'ALTER ROLE "{private_role}" SUPERUSER BYPASSRLS CREATEDB')
        await conn.execute(f'GRANT pg_read_server_files TO "{private_role}"')
        assert (await inspect(conn, wall)).problems == [
            f"the role {private_role} has SUPERUSER, BYPASSRLS, CREATEDB",
            f"the role {private_role} is a member of pg_read_server_files and has its privileges",
        ]
        assert (await install(conn, wall)).up
        # ... grants it more, or changes its policies.
        await conn.execute(f'GRANT USAGE ON SCHEMA rowgate TO "{private_role}"')
        await conn.execute(f'GRANT TRUNCATE ON tasks TO "{private_role}"')
        await conn.execute(f'GRANT SELECT ON unlisted TO "{private_role}"')
        await conn.execute(f"DROP POLICY rowgate_tasks_select_user_{VERSION} ON tasks")
        await conn.execute(
            f'CREATE POLICY rowgate_tasks_select_guest ON tasks TO "{private_role}" USING (true)'
        )
        found = await inspect(conn, wall)
        problems = "\n".join(found.problems)
        for expected in (
            "may use rowgate's own schema",
            "holds DELETE, INSERT, SELECT, TRUNCATE, UPDATE on public.tasks",
            "holds SELECT on public.unlisted, which no policy serves",
            f"the policy rowgate_tasks_select_user_{VERSION} on public.tasks is missing",
            "the policy rowgate_tasks_select_guest on public.tasks is no longer in the policy file",
        ):
            assert expected in problems, problems
        assert (await install(conn, wall)).up

        # What only a person can decide: a table open to every role, a policy of the app's own
        # that widens what the role sees, a table the role owns.
        await conn.execute("GRANT SELECT ON unlisted TO PUBLIC")
        await conn.execute("CREATE POLICY everyone ON tasks USING (true)")
        await conn.execute(f'ALTER TABLE posts OWNER TO "{private_role}"')
        found = await install(conn, wall)
        problems = "\n".join(found.problems)
        assert "holds SELECT on public.unlisted" in problems
        assert 'REVOKE ALL ON "public"."unlisted" FROM PUBLIC' in problems
        assert "the policy everyone on public.tasks lets" in problems
        assert f"the role {private_role} owns the table public.posts" in problems
        assert {f.mend for f in found.findings if "everyone" in f.problem or "owns" in f.problem} == {
            Mend.NOBODY
        }
        await conn.execute("ALTER TABLE posts OWNER TO CURRENT_USER")
    finally:
        await conn.close()


async def test_the_owner_rule_s_trigger_is_put_up_kept_current_and_binds_the_role(
    world_database: str, private_role: str
) -> None:
    wall, _ = await wall_of(world_database, private_role)
    conn = await connect(world_database)
    try:
        assert (await install(conn, wall)).up
        trigger = "the owner rule's trigger rowgate_tasks_owner on public.tasks"
        await conn.execute("DROP TRIGGER rowgate_tasks_owner ON tasks")
        assert (await inspect(conn, wall)).problems == [f"{trigger} is missing"]
        assert (await install(conn, wall)).up
        await conn.execute("COMMENT ON TRIGGER rowgate_tasks_owner ON tasks IS 'rowgate 0000 old'")
        assert (await inspect(conn, wall)).problems == [f"{trigger} is out of date"]
        assert (await install(conn, wall)).up
        # A member running as the role cannot write a row owned by someone else, even in a
        # statement the rewriter never saw.
        async with conn.transaction():
            await conn.execute(
                f"SET LOCAL rowgate.groups = 'user'; SET LOCAL rowgate.org_id = '{world.ORG_A}'; "
                f"SET LOCAL rowgate.user_id = '{world.USER_A}'; "
                f"SET LOCAL rowgate.policy = '{wall.version}'; SET LOCAL ROLE \"{private_role}\""
            )
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="owner column"):
                await conn.execute(
                    "INSERT INTO tasks (org_id, title, created_by) VALUES ($1, 'forged', $2)",
                    world.ORG_A,
                    world.ADMIN_A,
                )
    finally:
        await conn.close()


async def test_row_security_is_not_enabled_where_it_would_lock_an_app_role_out(
    world_database: str, private_role: str
) -> None:
    app = f"{private_role}_app"
    conn = await connect(world_database)
    try:
        await conn.execute(f'CREATE ROLE "{app}" NOLOGIN')
        await conn.execute(f'GRANT SELECT ON projects TO "{app}"')
        wall, _ = await wall_of(world_database, private_role)
        found = await install(conn, wall)
        assert not found.up
        problem = next(
            f for f in found.findings if "row security is not enabled on public.projects" in f.problem
        )
        assert app in problem.problem
        assert problem.mend is Mend.NOBODY
        assert not await conn.fetchval("SELECT relrowsecurity FROM pg_class WHERE oid = 'projects'::regclass")
        # The app's role gets a policy of its own: now rowgate may enable row security.
        await conn.execute(f'CREATE POLICY app_reads ON projects TO "{app}" USING (true)')
        assert (await install(conn, wall)).up
        async with conn.transaction():
            await conn.execute(f'SET LOCAL ROLE "{app}"')
            assert await conn.fetchval("SELECT count(*) FROM projects") == len(world.seed_projects())
    finally:
        await conn.close()
        await drop_roles(world_database, app)


async def test_a_reload_brings_a_new_generation_of_native_policies_and_keeps_the_one_before(
    data_settings: Callable[..., Settings], start_rowgate: Start, client: Client, tmp_path: Path
) -> None:
    path = tmp_path / "policies.yaml"
    text = world.POLICIES.read_text()
    path.write_text(text)
    server = await start_rowgate(data_settings(**{"policies": str(path), "data.reload": False}))
    api, me = api_of(server), Client(client.http, server)
    first = api.policy.version
    path.write_text(text.replace("    select: [admin, user]\n", "    select: [admin]\n", 1))
    assert await api.holder.reload()
    second = api.policy.version

    database = str(server.app[SERVICES].settings.database.url)
    names = await _projects_select_policies(database)
    # The new generation, and the one before for requests that started under it.
    assert names == {f"rowgate_projects_select_admin_{second[:8]}"} | {
        f"rowgate_projects_select_{group}_{first[:8]}" for group in ("admin", "user")
    }
    assert (await wall_of(database, policies=path))[1].up
    status, body = await me.call("GET", "/v1/data/projects", "user_a")
    assert (status, body["data"]) == (200, [])

    # A transaction that names no generation, or one that is gone, meets no policy at all.
    path.write_text(text.replace("[admin, self]", "[admin]"))
    assert await api.holder.reload()
    third = api.policy.version
    assert {n.rsplit("_", 1)[1] for n in await _projects_select_policies(database)} == {second[:8], third[:8]}
    for version in ("", first):
        async with api.runner.transaction(
            USER_A, run_as=RunAs(DEFAULT_ROLE, version), readonly=True
        ) as session:
            assert await session.conn.fetchval("SELECT count(*) FROM projects") == 0


async def _projects_select_policies(database: str) -> set[str]:
    conn = await connect(database)
    try:
        found = await conn.fetch(
            "SELECT policyname FROM pg_policies WHERE tablename = 'projects' AND cmd = 'SELECT'"
        )
        return {r[0] for r in found}
    finally:
        await conn.close()


# Managed PostgreSQL: rowgate's login owns the app's tables but may not create roles.


@pytest.fixture
async def managed(world_database: str, private_role: str) -> AsyncIterator[str]:
    """The world's database with its tables and rowgate's schema owned by a login role without
    CREATEROLE; that login's URL."""
    login = f"{private_role}_login"
    conn = await connect(world_database)
    try:
        await conn.execute(f'CREATE ROLE "{login}" LOGIN NOSUPERUSER NOCREATEROLE')
        await conn.execute(f'GRANT CREATE ON DATABASE "{urlsplit(world_database).path[1:]}" TO "{login}"')
        for table in ("projects", "tasks", "posts", "unlisted"):
            await conn.execute(f'ALTER TABLE {table} OWNER TO "{login}"')
        await conn.execute(f'ALTER SCHEMA rowgate OWNER TO "{login}"')
        for (table,) in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'rowgate'"):
            await conn.execute(f'ALTER TABLE rowgate."{table}" OWNER TO "{login}"')
        functions = "SELECT oid::regprocedure::text FROM pg_proc WHERE pronamespace = 'rowgate'::regnamespace"
        for (function,) in await conn.fetch(functions):
            await conn.execute(f'ALTER FUNCTION {function} OWNER TO "{login}"')
        await conn.execute(f'GRANT ALL ON SCHEMA public TO "{login}"')
    finally:
        await conn.close()
    parts = urlsplit(world_database)
    yield urlunsplit(parts._replace(netloc=f"{login}@{parts.hostname}:{parts.port or 5432}"))
    await drop_roles(world_database, login)


async def test_managed_postgresql_in_production_closes_the_data_api_until_the_sql_is_run(
    data_settings: Callable[..., Settings],
    start_rowgate: Start,
    http: aiohttp.ClientSession,
    managed: str,
    private_role: str,
    world_database: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("ROWGATE_MASTER_KEY", secrets.token_urlsafe(32))
    settings = data_settings(**{"mode": "production", "database.url": managed, "data.role": private_role})
    with caplog.at_level(logging.ERROR, logger="rowgate.data"):
        server = await start_rowgate(settings)
    me = Client(http, server)
    assert "rowgate policy export --sql" in caplog.text
    assert f"the role {private_role} does not exist" in caplog.text
    for method, path, body in (
        ("GET", "/v1/data/tasks", None),
        ("POST", "/v1/data/tasks", {"title": "x"}),
        ("POST", "/v1/sql", {"sql": "SELECT title FROM tasks"}),
    ):
        status, answer = await me.call(method, path, "user_a", json=body)
        assert (status, answer["code"]) == (503, "second_wall_missing"), answer
        assert private_role not in answer["detail"]
    status, _ = await me.call("GET", "/healthz")
    assert status == 200

    # The operator runs what `rowgate policy export --sql` prints, as a superuser, and reloads.
    sql = await asyncio.to_thread(_export_sql, managed, private_role)
    assert f'GRANT "{private_role}" TO "{private_role}_login"' in sql
    conn = await connect(world_database)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()
    assert await api_of(server).holder.reload("after the SQL was run")
    assert api_of(server).policy.role == private_role
    status, body = await me.call("GET", "/v1/data/tasks", "user_a", params={"limit": "1000"})
    assert (status, len(body["data"])) == (200, len(world.visible_tasks(world.CALLERS["user_a"])))


async def test_managed_postgresql_in_dev_serves_without_the_wall_and_says_so_loudly(
    data_settings: Callable[..., Settings],
    start_rowgate: Start,
    http: aiohttp.ClientSession,
    managed: str,
    private_role: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = data_settings(**{"database.url": managed, "data.role": private_role})
    with caplog.at_level(logging.WARNING, logger="rowgate.data"):
        server = await start_rowgate(settings)
    assert "THE DATA API RUNS WITHOUT ITS SECOND WALL" in caplog.text
    assert "rowgate policy export --sql" in caplog.text
    assert api_of(server).policy.role is None
    status, body = await Client(http, server).call("GET", "/v1/data/tasks", "user_a")
    assert status == 200, body


async def test_a_reload_in_production_keeps_the_wall_in_force_when_it_cannot_follow(
    make_settings: SettingsFactory, world_database: str, tmp_path: Path
) -> None:
    path = tmp_path / "policies.yaml"
    path.write_text(world.POLICIES.read_text())
    settings = make_settings(policies=str(path)).data
    conn = await connect(world_database)
    try:

        async def load(source: Path | None) -> DataPolicy:
            return await load_data_policy(source, conn, settings, production=True)

        holder = PolicyHolder(path, load, await load(path))
        assert (holder.current.role, holder.current.closed) == (DEFAULT_ROLE, False)
        await conn.execute("GRANT SELECT ON unlisted TO PUBLIC")  # rowgate may not undo this
        path.write_text(world.POLICIES.read_text().replace("[admin, self]", "[admin]"))
        assert await holder.reload() is False
        assert "unlisted" in (holder.last_error or "")
        assert (holder.current.role, holder.current.closed) == (DEFAULT_ROLE, False)
        await conn.execute("REVOKE SELECT ON unlisted FROM PUBLIC")
        assert await holder.reload() is True
        assert not holder.current.closed
    finally:
        await conn.close()


def _export_sql(url: str, role: str) -> str:
    from rowgate.proxy.data.policy_cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(
            [
                "--database-url",
                url,
                "policy",
                "export",
                "--sql",
                "--data-role",
                role,
                "--config",
                str(world.DATA / "rowgate.yaml"),
                "--policies",
                str(world.POLICIES),
            ]
        )
    assert code == 0
    return out.getvalue()


def _migrate(config: Path, database: str) -> subprocess.CompletedProcess[str]:
    """``rowgate migrate`` run in this process (``tests.clikit``): what it prints and returns."""
    return clikit.run("migrate", "--config", str(config), env={"ROWGATE_DATABASE_URL": database})


def _config(tmp_path: Path, role: str) -> Path:
    path = tmp_path / "rowgate.yaml"
    path.write_text(f"policies: {world.POLICIES}\ndata_dir: {tmp_path / 'data'}\ndata: {{role: {role}}}\n")
    return path


def test_rowgate_migrate_puts_the_wall_up(world_database: str, private_role: str, tmp_path: Path) -> None:
    result = _migrate(_config(tmp_path, private_role), world_database)

    assert result.returncode == 0, result.stderr
    assert f"second wall up: data API statements run as {private_role} (3 table(s))" in result.stdout
    assert asyncio.run(wall_of(world_database, private_role))[1].up


def test_rowgate_migrate_says_what_is_missing_where_it_may_not(
    managed: str, private_role: str, tmp_path: Path
) -> None:
    result = _migrate(_config(tmp_path, private_role), managed)

    assert result.returncode == 1
    assert "the second wall is NOT up" in result.stderr
    assert f"the role {private_role} does not exist" in result.stderr
    assert "rowgate policy export --sql" in result.stderr
    assert "Traceback" not in result.stderr


async def test_a_serial_column_s_sequence_is_granted_and_inserts_run_as_the_role(
    world_database: str, private_role: str, tmp_path: Path
) -> None:
    policies = tmp_path / "policies.yaml"
    policies.write_text(
        world.POLICIES.read_text() + "  notes:\n    select: [admin, user]\n    insert: [admin, user]\n"
    )
    conn = await connect(world_database)
    try:
        await conn.execute("CREATE TABLE notes (id serial PRIMARY KEY, org_id uuid NOT NULL, body text)")
        wall, _ = await wall_of(world_database, private_role, policies)
        assert (await install(conn, wall)).up
        await conn.execute(f'REVOKE USAGE ON SEQUENCE notes_id_seq FROM "{private_role}"')
        assert (await inspect(conn, wall)).problems == [
            f"the role {private_role} may not use the sequence public.notes_id_seq"
        ]
        assert (await install(conn, wall)).up
        async with conn.transaction():
            await conn.execute(
                f"SET LOCAL rowgate.groups = 'user'; SET LOCAL rowgate.org_id = '{world.ORG_A}'; "
                f"SET LOCAL rowgate.policy = '{wall.version}'; SET LOCAL ROLE \"{private_role}\""
            )
            inserted = await conn.fetchval(
                "INSERT INTO notes (org_id, body) VALUES ($1, 'hi') RETURNING id", world.ORG_A
            )
            assert inserted == 1
    finally:
        await conn.close()
