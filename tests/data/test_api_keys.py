"""API keys through the data API: a full secret key reads as its tenant's admin, a narrower one as
a member, a publishable one as a guest; no key reaches another tenant's rows."""

from __future__ import annotations

from typing import Any

import pytest

from tests.data import world
from tests.data.conftest import Client

pytestmark = pytest.mark.integration


async def key(client: Client, kind: str, scopes: list[str]) -> str:
    """A key of organisation A made by its admin (who is made a rowgate member first)."""
    await client.enrol("admin_a")
    status, body = await client.call(
        "POST", "/v1/auth/api-keys", "admin_a", json={"name": kind, "type": kind, "scopes": scopes}
    )
    assert status == 201, body
    return str(body["key"])


async def rows(client: Client, table: str, api_key: str) -> list[dict[str, Any]]:
    status, body = await client.call(
        "GET", f"/v1/data/{table}", headers={"X-API-Key": api_key}, params={"limit": "1000"}
    )
    assert status == 200, body
    return list(body["data"])


def ids(found: list[dict[str, Any]]) -> set[Any]:
    return {row["id"] for row in found}


async def test_a_full_secret_key_reads_as_its_tenants_admin(client: Client) -> None:
    secret = await key(client, "secret", ["*"])
    tasks = await rows(client, "tasks", secret)
    assert ids(tasks) == ids(world.visible_tasks(world.CALLERS["admin_a"]))
    assert all("internal_notes" in row for row in tasks)
    assert ids(await rows(client, "projects", secret)) == {1, 2}


async def test_a_narrower_secret_key_reads_as_a_member(client: Client) -> None:
    secret = await key(client, "secret", ["tasks:read"])
    tasks = await rows(client, "tasks", secret)
    assert ids(tasks) == ids(world.visible_tasks(world.CALLERS["user_a"]))
    assert not any("internal_notes" in row for row in tasks)


async def test_a_publishable_key_reads_as_a_guest(client: Client) -> None:
    publishable = await key(client, "publishable", [])
    assert await rows(client, "tasks", publishable) == []
    assert ids(await rows(client, "posts", publishable)) == ids(world.visible_posts(world.CALLERS["guest"]))
    status, body = await client.call(
        "POST",
        "/v1/data/posts",
        headers={"X-API-Key": publishable},
        json={"title": "spam", "status": "published"},
    )
    # a guest holds rbac.guest_permissions (*:read): no posts:create, whatever the policy says
    assert (status, body["code"], body["missing"]) == (403, "permission_denied", ["posts:create"])
