"""Policy reload: a changed file is swapped in, a broken one is reported and the old policy stays,
SIGHUP reloads, requests in flight finish under the policy they started with.  Also: rowgate's
own schema can never be given a policy.  (How a reload brings the second wall along:
``test_second_wall.py``.)"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from rowgate.config import Settings
from rowgate.errors import ConfigError
from rowgate.proxy.appkeys import SERVICES
from rowgate.proxy.data.access import Access, Caller
from rowgate.proxy.data.execute import RunAs
from rowgate.proxy.data.rest import DataApi
from rowgate.rls.subject import Subject
from tests.conftest import RunningServer
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


async def test_a_table_whose_writes_reach_every_tenant_is_refused_on_reload_and_at_start(
    data_settings: Callable[..., Settings], start_rowgate: Start, policy_copy: Path
) -> None:
    server = await start_rowgate(data_settings(**{"policies": str(policy_copy), "data.reload": False}))
    api = api_of(server)
    first = api.policy.version
    policy_copy.write_text(world.POLICIES.read_text().replace("    shared: true\n", "", 1))

    assert await api.holder.reload() is False
    assert "tables.posts.insert: the table has no tenant column" in (api.holder.last_error or "")
    assert api.policy.version == first
    with pytest.raises(ConfigError) as raised:
        await start_rowgate(data_settings(**{"policies": str(policy_copy)}))
    assert f"{policy_copy}: tables.posts.insert" in str(raised.value)


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
    async def reload_first(
        subject: Subject, *, run_as: RunAs | None, ordinary: bool = False
    ) -> AsyncIterator[Any]:
        assert await api.holder.reload("mid-request")  # the swap lands while the request runs
        async with original(subject, run_as=run_as, ordinary=ordinary) as session:
            yield session

    api.runner.single_read = reload_first  # type: ignore[method-assign]
    body = orjson.loads(await api.read(USER_A, "tasks", [("limit", "1000")]))
    api.runner.single_read = original  # type: ignore[method-assign]
    assert len(body["data"]) == len(world.visible_tasks(world.CALLERS["user_a"]))
    assert orjson.loads(await api.read(USER_A, "tasks", [("limit", "1000")]))["data"] == []


async def test_every_reload_is_recorded_in_the_audit_trail(
    data_settings: Callable[..., Settings], start_rowgate: Start, policy_copy: Path
) -> None:
    server = await start_rowgate(data_settings(**{"policies": str(policy_copy), "data.reload": False}))
    api = api_of(server)
    assert await api.holder.reload("SIGHUP") is True
    policy_copy.write_text("{not yaml")
    assert await api.holder.reload("file changed") is False
    rows = await server.app[SERVICES].db.fetch(
        "SELECT event, details->>'reason' AS reason, user_id, org_id FROM rowgate.audit_events "
        "WHERE event LIKE 'policy.%' ORDER BY id"
    )
    assert [(r["event"], r["reason"], r["user_id"], r["org_id"]) for r in rows] == [
        ("policy.reloaded", "SIGHUP", None, None),
        ("policy.reload_failed", "file changed", None, None),
    ]
