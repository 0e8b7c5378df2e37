"""Policy reload: a changed file is swapped in, a broken one is reported and the old policy stays,
SIGHUP reloads, requests in flight finish under the policy they started with.  Also: rowgate's
own schema can never be given a policy, and native_rls checks the database's row security."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from config import Settings
from config.errors import ConfigError
from proxy.data.access import Access, Caller
from proxy.data.rest import DataApi
from proxy.keys import SERVICES
from rls.export import export_postgres
from rls.introspect import introspect
from rls.policy import load_policies
from rls.subject import Subject
from tests.conftest import ADMIN_URL, RunningServer
from tests.data import world
from tests.data.conftest import Client, Start

pytestmark = pytest.mark.integration

USER_A = Caller(Subject(world.USER_A, world.ORG_A, frozenset({"user"}), "member"), Access(frozenset({"*"})))


async def eventually(check: Callable[[], bool]) -> None:
    """Wait (bounded) until ``check()`` holds; the test fails if it never does."""
    for _ in range(400):
        if check():
            return
        await asyncio.sleep(0.025)
    raise AssertionError("the condition never held")


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    path = tmp_path / "policies.yaml"
    path.write_text(world.POLICIES.read_text())
    return path


def api_of(server: RunningServer) -> DataApi:
    return server.app[SERVICES].data


def without_member_reads(text: str) -> str:
    return text.replace("  tasks:\n    select: [admin, user]", "  tasks:\n    select: [admin]", 1)


async def test_a_changed_file_is_swapped_in_and_a_broken_one_keeps_the_old_policy(
    data_settings: Callable[..., Settings], start_rowgate: Start, client: Client, policy_copy: Path
) -> None:
    server = await start_rowgate(
        data_settings(**{"policies": str(policy_copy), "data.reload_interval": "20ms"})
    )
    api, me = api_of(server), Client(client.http, server)
    first = api.policy.version

    policy_copy.write_text("version: 1\ntables:\n  tasks:\n    select: [everyone]\n")  # invalid group
    await eventually(lambda: api.holder.last_error is not None)
    assert "tables.tasks.select" in (api.holder.last_error or "")
    assert api.policy.version == first
    status, body = await me.call("GET", "/v1/data/tasks", "user_a")
    assert (status, len(body["data"])) == (200, len(world.visible_tasks(world.CALLERS["user_a"])))

    policy_copy.write_text("{not yaml")
    await eventually(lambda: "invalid YAML" in (api.holder.last_error or ""))
    assert api.policy.version == first

    policy_copy.write_text(without_member_reads(world.POLICIES.read_text()))
    await eventually(lambda: api.policy.version != first)
    assert api.holder.last_error is None
    status, body = await me.call("GET", "/v1/data/tasks", "user_a")
    assert (status, body["data"]) == (200, [])
    status, body = await me.call("GET", "/v1/data/tasks", "admin_a", params={"limit": "1000"})
    assert len(body["data"]) == len(world.visible_tasks(world.CALLERS["admin_a"]))


async def test_a_policy_for_rowgates_own_schema_is_refused_on_reload(
    data_settings: Callable[..., Settings], start_rowgate: Start, policy_copy: Path
) -> None:
    server = await start_rowgate(data_settings(**{"policies": str(policy_copy), "data.reload": False}))
    api = api_of(server)
    first = api.policy.version
    policy_copy.write_text(world.POLICIES.read_text() + "  rowgate.users:\n    select: [admin, user]\n")
    assert await api.holder.reload() is False
    assert "rowgate.users: rowgate's own schema is never served" in (api.holder.last_error or "")
    assert api.policy.version == first
    with pytest.raises(ConfigError):
        await start_rowgate(data_settings(**{"policies": str(policy_copy)}))


async def test_sighup_reloads(
    data_settings: Callable[..., Settings], start_rowgate: Start, policy_copy: Path
) -> None:
    server = await start_rowgate(data_settings(**{"policies": str(policy_copy), "data.reload": False}))
    api = api_of(server)
    first = api.policy.version
    policy_copy.write_text(without_member_reads(world.POLICIES.read_text()))
    os.kill(os.getpid(), signal.SIGHUP)
    await eventually(lambda: api.policy.version != first)


async def test_requests_in_flight_finish_under_the_policy_they_started_with(
    data_settings: Callable[..., Settings], start_rowgate: Start, policy_copy: Path
) -> None:
    server = await start_rowgate(data_settings(**{"policies": str(policy_copy), "data.reload": False}))
    api = api_of(server)
    original = api.runner.single_read
    policy_copy.write_text(without_member_reads(world.POLICIES.read_text()))

    @contextlib.asynccontextmanager
    async def reload_first(subject: Subject) -> AsyncIterator[Any]:
        assert await api.holder.reload("mid-request")  # the swap lands while the request runs
        async with original(subject) as session:
            yield session

    api.runner.single_read = reload_first  # type: ignore[method-assign]
    body = await api.read(USER_A, "tasks", [("limit", "1000")])
    api.runner.single_read = original  # type: ignore[method-assign]
    assert len(body["data"]) == len(world.visible_tasks(world.CALLERS["user_a"]))
    assert (await api.read(USER_A, "tasks", [("limit", "1000")]))["data"] == []


async def test_native_rls_needs_row_security_and_then_runs_as_a_second_layer(
    data_settings: Callable[..., Settings], start_rowgate: Start, client: Client, world_database: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        await start_rowgate(data_settings(**{"data.native_rls": True}))
    assert "row security enabled and forced" in str(raised.value)

    role = f"rgdata_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(world_database)
    try:
        policies = load_policies(world.POLICIES)
        await conn.execute(export_postgres(policies, await introspect(conn, ["public"])))
        await conn.execute(f'CREATE ROLE "{role}" NOLOGIN')
        await conn.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"')
        await conn.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"')
        await conn.execute(f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
        server = await start_rowgate(data_settings(**{"data.native_rls": True, "data.role": role}))
        me = Client(client.http, server)
        status, body = await me.call("GET", "/v1/data/tasks", "user_b", params={"limit": "1000"})
        assert status == 200
        assert sorted(r["id"] for r in body["data"]) == sorted(
            r["id"] for r in world.visible_tasks(world.CALLERS["user_b"])
        )
        status, body = await me.call("POST", "/v1/data/tasks", "user_b", json={"title": "native"})
        assert status == 201, body
        assert body["data"]["org_id"] == world.ORG_B
        # The database's own layer now refuses what rowgate's would: a direct read as the role,
        # with no rowgate identity set, sees nothing at all.
        async with conn.transaction():
            await conn.execute(f'SET LOCAL ROLE "{role}"')
            assert await conn.fetchval("SELECT count(*) FROM tasks") == 0
    finally:
        await conn.execute(f'DROP OWNED BY "{role}"')
        await conn.close()
        admin = await asyncpg.connect(ADMIN_URL)
        try:
            await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        finally:
            await admin.close()
