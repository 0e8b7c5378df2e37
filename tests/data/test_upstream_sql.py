"""SQL-over-HTTP upstreams: a small SQLite-backed app behind rowgate receives only rewritten SQL
(in a query parameter, a JSON body or the raw body) and returns only the caller's tenant's rows; a
refused statement never reaches it.  Owner-level routes let a request through only for the row's
owner."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from rowgate.config import Settings
from rowgate.proxy.appkeys import SERVICES
from tests.conftest import RunningServer, SettingsFactory
from tests.data import world
from tests.data.conftest import Client

pytestmark = pytest.mark.integration

StartApp = Callable[[web.Application], Awaitable[str]]
Start = Callable[[Settings], Awaitable[RunningServer]]

ORG_A, ORG_B = "org-a", "org-b"
ALICE, ANN, BOB = "alice", "o'ann", "bob"  # a quote in an id must stay inside its literal

POLICY = """
version: 1
defaults: {tenant_column: org_id, owner_column: created_by}
tables:
  notes:
    select: [admin, user]
    insert: [admin, user]
    update: [admin, self]
    delete: [admin]
    columns:
      all: [id, org_id, created_by, body, pinned]
  bulletins:
    tenant_column: null
    select: [admin, user, guest]
    filters: {guest: "pinned = 1"}
    columns:
      all: [id, org_id, created_by, body, pinned]
"""

NOTES = [
    (1, ORG_A, ALICE, "a1", 0),
    (2, ORG_A, ANN, "a2", 1),
    (3, ORG_B, BOB, "b1", 0),
    (4, ORG_B, BOB, "b2", 1),
    (5, ORG_A, ALICE, "a3", 1),
]


class SqliteApp:
    """The upstream: runs whatever SQL it receives on its SQLite database, and remembers it."""

    def __init__(self) -> None:
        self.db = sqlite3.connect(":memory:")
        for table in ("notes", "bulletins"):
            self.db.execute(
                f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, org_id TEXT, created_by TEXT, "
                "body TEXT, pinned INTEGER)"
            )
            self.db.executemany(f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?)", NOTES)
        self.received: list[str] = []

    def run(self, sql: str, params: list[Any] | None = None) -> web.Response:
        self.received.append(sql)
        try:
            cursor = self.db.execute(sql, params or [])
        except sqlite3.Error as error:
            return web.json_response({"error": str(error)}, status=400)
        columns = [d[0] for d in cursor.description or ()]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        self.db.commit()
        return web.json_response({"rows": rows, "changed": cursor.rowcount})

    def app(self) -> web.Application:
        async def by_query(request: web.Request) -> web.Response:
            return self.run(request.query["sql"])

        async def by_json(request: web.Request) -> web.Response:
            body = await request.json()
            return self.run(body["query"]["text"], body.get("args"))

        async def by_body(request: web.Request) -> web.Response:
            return self.run((await request.read()).decode())

        app = web.Application()
        app.router.add_get("/q", by_query)
        app.router.add_post("/j", by_json)
        app.router.add_post("/raw", by_body)
        return app


#: What the policy above lets each role do: table permissions for this upstream's tables.
ROLES = {
    "admin": ["*"],
    "member": ["notes:read", "notes:create", "notes:update", "bulletins:read"],
    "viewer": ["*:read"],
}

ROUTES = [
    {"path": "/q", "level": "authenticated", "sql": {"at": "query:sql", "dialect": "sqlite"}},
    {
        "path": "/j",
        "methods": ["POST"],
        "level": "authenticated",
        "sql": {"at": "json:/query/text", "dialect": "sqlite"},
    },
    {"path": "/raw", "methods": ["POST"], "level": "public", "sql": {"at": "body", "dialect": "sqlite"}},
]


@pytest.fixture
def upstream() -> SqliteApp:
    return SqliteApp()


@pytest.fixture
async def sql_server(
    make_settings: SettingsFactory,
    start_rowgate: Start,
    start_app: StartApp,
    upstream: SqliteApp,
    tmp_path: Path,
) -> RunningServer:
    policies = tmp_path / "policies.yaml"
    policies.write_text(POLICY)
    url = await start_app(upstream.app())
    settings = make_settings(
        **{"policies": str(policies), "upstream.url": url, "routes.rules": ROUTES, "rbac.roles": ROLES}
    )
    return await start_rowgate(settings)


def token(server: RunningServer, user: str, org: str, role: str = "member") -> dict[str, str]:
    issued = server.app[SERVICES].tokens.issue_access(
        sub=user, sid=str(uuid.uuid4()), amr=["pwd"], org_id=org, role=role
    )
    return {"Authorization": f"Bearer {issued.token}"}


async def test_sql_in_a_query_parameter_is_rewritten_and_returns_only_the_tenants_rows(
    sql_server: RunningServer, upstream: SqliteApp, http: aiohttp.ClientSession
) -> None:
    params = {"sql": "SELECT id, body FROM notes ORDER BY id", "keep": "me"}
    async with http.get(
        f"{sql_server.url}/q", params=params, headers=token(sql_server, ALICE, ORG_A)
    ) as response:
        assert response.status == 200
        body = await response.json()
    assert [r["id"] for r in body["rows"]] == [1, 2, 5]
    (received,) = upstream.received
    assert "'org-a'" in received
    assert "public" not in received
    async with http.get(
        f"{sql_server.url}/q", params=params, headers=token(sql_server, BOB, ORG_B)
    ) as response:
        assert [r["id"] for r in (await response.json())["rows"]] == [3, 4]


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT * FROM secrets",
        "DROP TABLE notes",
        "SELECT * FROM notes; DELETE FROM notes",
        "SELECT * FROM sqlite_master",
        "SELEC nonsense",
        "DELETE FROM notes",  # members may not delete notes at all
    ],
)
async def test_a_refused_statement_never_reaches_the_upstream(
    sql_server: RunningServer, upstream: SqliteApp, http: aiohttp.ClientSession, statement: str
) -> None:
    async with http.get(
        f"{sql_server.url}/q", params={"sql": statement}, headers=token(sql_server, ALICE, ORG_A)
    ) as response:
        assert response.status in (400, 403)
        problem = await response.json()
        assert problem["code"]
    assert upstream.received == []
    assert upstream.db.execute("SELECT count(*) FROM notes").fetchone() == (5,)


async def test_sql_in_a_json_body_is_rewritten_in_place(
    sql_server: RunningServer, upstream: SqliteApp, http: aiohttp.ClientSession
) -> None:
    payload = {"query": {"text": "UPDATE notes SET body = ? WHERE id > ?"}, "args": ["changed", 0]}
    async with http.post(
        f"{sql_server.url}/j", json=payload, headers=token(sql_server, ANN, ORG_A)
    ) as response:
        assert response.status == 200, await response.text()
        assert (await response.json())["changed"] == 1  # self: only ann's note
    rows = upstream.db.execute("SELECT id FROM notes WHERE body = 'changed'").fetchall()
    assert rows == [(2,)]
    assert "'o''ann'" in upstream.received[0]


async def test_a_statement_needs_the_callers_table_permissions_before_it_reaches_the_upstream(
    sql_server: RunningServer, upstream: SqliteApp, http: aiohttp.ClientSession
) -> None:
    viewer = token(sql_server, ALICE, ORG_A, role="viewer")
    for statement, missing in (
        ("UPDATE notes SET body = 'x' WHERE id = 1", ["notes:update"]),
        ("INSERT INTO notes (id, body) SELECT id + 10, body FROM bulletins", ["notes:create"]),
    ):
        async with http.get(f"{sql_server.url}/q", params={"sql": statement}, headers=viewer) as response:
            problem = await response.json()
        assert (response.status, problem["code"], problem["missing"]) == (403, "permission_denied", missing)
    assert upstream.received == []
    async with http.get(
        f"{sql_server.url}/q", params={"sql": "SELECT id FROM notes ORDER BY id"}, headers=viewer
    ) as response:
        assert [r["id"] for r in (await response.json())["rows"]] == [1, 2, 5]


async def test_sql_in_the_raw_body_for_guests_and_members(
    sql_server: RunningServer, upstream: SqliteApp, http: aiohttp.ClientSession
) -> None:
    async with http.post(f"{sql_server.url}/raw", data=b"SELECT id FROM bulletins ORDER BY id") as response:
        assert [r["id"] for r in (await response.json())["rows"]] == [2, 4, 5]  # guests: pinned only
    async with http.post(f"{sql_server.url}/raw", data=b"SELECT id FROM notes") as response:
        assert [r["id"] for r in (await response.json())["rows"]] == []  # guests: no note at all
    headers = token(sql_server, BOB, ORG_B)
    async with http.post(
        f"{sql_server.url}/raw", data=b"SELECT id FROM bulletins ORDER BY id", headers=headers
    ) as response:
        assert [r["id"] for r in (await response.json())["rows"]] == [1, 2, 3, 4, 5]


async def test_a_missing_statement_is_400(
    sql_server: RunningServer, upstream: SqliteApp, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        f"{sql_server.url}/j", json={"query": {}}, headers=token(sql_server, ALICE, ORG_A)
    ) as response:
        assert (response.status, (await response.json())["code"]) == (400, "sql_missing")
    async with http.get(f"{sql_server.url}/q", headers=token(sql_server, ALICE, ORG_A)) as response:
        assert (response.status, (await response.json())["code"]) == (400, "sql_missing")
    assert upstream.received == []


# Owner-level routes, on the data API's world database.


class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def app(self) -> web.Application:
        async def handle(request: web.Request) -> web.Response:
            self.calls.append(f"{request.method} {request.path}")
            return web.json_response({"ok": True})

        app = web.Application()
        app.router.add_route("*", "/api/tasks/{id}", handle)
        return app


@pytest.fixture
async def owner_client(
    data_settings: Callable[..., Settings],
    start_rowgate: Start,
    start_app: StartApp,
    http: aiohttp.ClientSession,
) -> tuple[Client, Recorder]:
    recorder = Recorder()
    url = await start_app(recorder.app())
    rules = [
        {
            "path": "/api/tasks/{id}",
            "methods": ["DELETE", "PATCH"],
            "level": "owner",
            "owner": {"table": "tasks", "param": "id"},
        },
        {"path": "/api/**", "level": "authenticated"},
    ]
    server = await start_rowgate(data_settings(**{"upstream.url": url, "routes.rules": rules}))
    return Client(http, server), recorder


def _task_of(owner: str | None, org: str = world.ORG_A) -> str:
    return next(str(r["id"]) for r in world.seed_tasks() if r["created_by"] == owner and r["org_id"] == org)


@pytest.mark.parametrize(
    ("caller", "owner", "org", "status"),
    [
        ("user_a", world.USER_A, world.ORG_A, 200),
        ("user_a2", world.USER_A2, world.ORG_A, 200),
        ("user_a", world.USER_A2, world.ORG_A, 403),
        ("admin_a", world.USER_A, world.ORG_A, 403),  # the self rule: admins are not owners
        ("user_b", world.USER_A, world.ORG_A, 404),
        ("guest", world.USER_A, world.ORG_A, 401),
    ],
)
async def test_owner_routes_let_only_the_rows_owner_through(
    owner_client: tuple[Client, Recorder], caller: str, owner: str, org: str, status: int
) -> None:
    client, recorder = owner_client
    task = _task_of(owner, org)
    got, body = await client.call("DELETE", f"/api/tasks/{task}", caller)
    assert got == status, body
    assert recorder.calls == ([f"DELETE /api/tasks/{task}"] if status == 200 else [])
    got, _ = await client.call("GET", f"/api/tasks/{task}", caller)  # GET is only authenticated
    assert got == (401 if caller == "guest" else 200)


async def test_owner_routes_refuse_malformed_ids(owner_client: tuple[Client, Recorder]) -> None:
    client, recorder = owner_client
    got, body = await client.call("DELETE", "/api/tasks/not-a-uuid", "user_a")
    assert (got, body["code"]) == (400, "invalid_value")
    got, body = await client.call("DELETE", f"/api/tasks/{uuid.uuid4()}", "user_a")
    assert (got, body["code"]) == (404, "row_not_found")
    assert recorder.calls == []


def test_owner_rules_are_checked_in_config(make_settings: SettingsFactory) -> None:
    from rowgate.errors import ConfigError

    with pytest.raises(ConfigError) as raised:
        make_settings(**{"routes.rules": [{"path": "/x/{id}", "level": "owner"}]})
    assert "owner" in str(raised.value)
    with pytest.raises(ConfigError) as raised:
        make_settings(**{"routes.rules": [{"path": "/x", "level": "owner", "owner": {"table": "tasks"}}]})
    assert "{id}" in str(raised.value)
    with pytest.raises(ConfigError):
        make_settings(**{"routes.rules": [{"path": "/x", "level": "public", "sql": {"at": "header:x"}}]})
    for dialect in ("klingon", "tsql", "bigquery"):  # unknown, or no fence rowgate trusts
        with pytest.raises(ConfigError) as raised:
            make_settings(
                **{
                    "routes.rules": [
                        {"path": "/x", "level": "public", "sql": {"at": "body", "dialect": dialect}}
                    ]
                }
            )
        assert "routes.rules[0].sql.dialect: expected one of postgres, sqlite, mysql, duckdb" in str(
            raised.value
        )
    assert json.dumps(ROUTES)


async def test_an_error_oracle_through_the_route_answers_alike_whatever_other_tenants_hold(
    sql_server: RunningServer, upstream: SqliteApp, http: aiohttp.ClientSession
) -> None:
    """The reported attack: an index serves ``body > 'b'`` and ``abs()`` of the smallest integer
    overflows, so an unfenced statement fails exactly while another tenant has a body past the
    bound.  Through the route the answer is the same with and without tenant B's rows."""
    upstream.db.execute("CREATE INDEX notes_body ON notes (body)")
    probe = "SELECT id FROM notes WHERE body > 'b' AND (abs(-9223372036854775807 - 1) + id) = 0"

    async def ask() -> tuple[int, object]:
        async with http.get(
            f"{sql_server.url}/q", params={"sql": probe}, headers=token(sql_server, ALICE, ORG_A)
        ) as response:
            return response.status, await response.json()

    with_theirs = await ask()
    sent = upstream.received[-1]
    unfenced = sent.replace(" LIMIT 9223372036854775807 OFFSET 0", "")
    assert unfenced != sent
    with pytest.raises(sqlite3.OperationalError, match="integer overflow"):
        upstream.db.execute(unfenced).fetchall()  # what the statement would have told without its fence
    upstream.db.execute("DELETE FROM notes WHERE org_id = ?", (ORG_B,))
    assert upstream.db.execute(unfenced).fetchall() == []

    assert await ask() == with_theirs == (200, {"rows": [], "changed": -1})
