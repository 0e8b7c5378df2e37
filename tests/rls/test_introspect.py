"""Reading tables, columns, types and defaults from the database."""

from __future__ import annotations

import pytest

from rowgate.rls.introspect import introspect
from rowgate.rls.rewrite import Rewriter
from tests.rls import world
from tests.rls.conftest import World

pytestmark = pytest.mark.integration


async def test_introspection_reads_columns_in_order_with_types_and_defaults(built: World) -> None:
    schema = await introspect(built.conn)

    assert set(schema.tables()) == set(world.SCHEMA)
    for table, columns in world.SCHEMA.items():
        assert dict(schema.types(table)) == columns
    policies = world.world_policies()
    tasks = policies.find(None, "tasks")
    assert tasks is not None
    assert schema.columns(tasks) == tuple(world.SCHEMA["public.tasks"])
    assert schema.default(tasks, "priority") is not None
    assert schema.default(tasks, "title") is not None  # no default: NULL, a known value


async def test_a_rewriter_on_introspected_columns_rewrites_like_one_on_declared_ones(
    built: World, rewriter: Rewriter
) -> None:
    introspected = Rewriter(rewriter.policies, schema=await introspect(built.conn))
    sql = "INSERT INTO tasks (id, title) VALUES (1, 'x') RETURNING *"

    assert introspected.rewrite(sql, world.SUBJECTS["user_a"]) == rewriter.rewrite(
        sql, world.SUBJECTS["user_a"]
    )
