"""API keys through the data API: a full secret key reads as its tenant's admin, a narrower one as
a member, a publishable one as a guest; no key reaches another tenant's rows."""

from __future__ import annotations

from typing import Any

import pytest

from proxy.keys import SERVICES
from tests.data import world
from tests.data.conftest import Client

pytestmark = pytest.mark.integration


async def key(client: Client, kind: str, scopes: list[str]) -> str:
    """A key of organisation A made by its admin (who is made a rowgate member first)."""
    db = client.server.app[SERVICES].db
    await db.execute(
        "INSERT INTO rowgate.orgs (id, name) VALUES ($1, 'A') ON CONFLICT DO NOTHING", world.ORG_A
    )
    await db.execute(
        "INSERT INTO rowgate.users (id, email) VALUES ($1, 'admin-a@example.com') ON CONFLICT DO NOTHING",
        world.ADMIN_A,
    )
    await db.execute(
        "INSERT INTO rowgate.memberships (org_id, user_id, role) VALUES ($1, $2, 'admin') "
        "ON CONFLICT DO NOTHING",
        world.ORG_A,
        world.ADMIN_A,
    )
    # Minting a key asks the database whether the caller's session is live: sign the admin in.
    session = await db.fetchval(
        "INSERT INTO rowgate.sessions (user_id, org_id, expires_at) "
        "VALUES ($1, $2, now() + interval '1 hour') RETURNING id::text",
        world.ADMIN_A,
        world.ORG_A,
    )
    token = client.server.app[SERVICES].tokens.issue_access(
        sub=world.ADMIN_A, sid=session, amr=["pwd"], org_id=world.ORG_A, role="admin"
    )
    status, body = await client.call(
        "POST",
        "/v1/auth/api-keys",
        json={"name": kind, "type": kind, "scopes": scopes},
        headers={"Authorization": f"Bearer {token.token}"},
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
    assert (status, body["code"]) == (403, "operation_not_allowed")  # guests may not insert posts
