"""The OpenAPI 3.1 document of the data API, generated from the policy and the introspected tables."""

from __future__ import annotations

import re

import pytest
from sqlglot.dialects.postgres import Postgres

from rowgate.proxy.appkeys import SERVICES
from rowgate.proxy.data.checks import read_checks
from rowgate.proxy.data.openapi import max_insert_rows
from rowgate.proxy.data.restsql import build_insert
from rowgate.rls.rewrite import MAX_TOKENS
from tests.data import world
from tests.data.conftest import Client

pytestmark = pytest.mark.integration


async def test_the_document_describes_every_served_table_from_policy_and_schema(client: Client) -> None:
    status, doc = await client.call("GET", "/v1/data/openapi.json")
    assert status == 200
    assert doc["openapi"] == "3.1.0"
    assert doc["servers"][0]["url"].endswith("/v1/data")
    assert set(doc["paths"]) == {
        "/projects",
        "/projects/{id}",
        "/tasks",
        "/tasks/{id}",
        "/posts",
        "/posts/{id}",
    }
    tasks = doc["components"]["schemas"]["tasks"]["properties"]
    assert tasks["id"] == {"type": "string", "format": "uuid"}
    assert tasks["priority"] == {
        "type": "integer",
        "format": "int32",
        "minimum": -(2**31),
        "maximum": 2**31 - 1,
    }
    assert tasks["due"] == {"type": ["string", "null"], "format": "date"}
    assert tasks["tags"] == {"type": "array", "items": {"type": "string", "pattern": "^[^\\x00]*$"}}
    assert tasks["internal_notes"]["description"] == "hidden from: user"
    update = doc["components"]["schemas"]["tasks.update"]
    assert "required" not in update
    assert update["minProperties"] == 1  # {} is refused
    assert doc["paths"]["/projects/{id}"]["get"]["parameters"][0]["schema"]["format"] == "int64"
    assert doc["paths"]["/posts/{id}"]["delete"]["description"] == "Policy: delete is granted to self."
    assert "unlisted" not in str(doc["paths"])  # a table without a policy is not served
    listing = doc["paths"]["/tasks"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {
        "select",
        "order",
        "limit",
        "offset",
        "count",
        "or",
        "title",
    }
    limit = next(p for p in listing["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 1000


async def test_an_insert_requires_only_what_the_client_must_send(client: Client) -> None:
    _, doc = await client.call("GET", "/v1/data/openapi.json")
    schemas = doc["components"]["schemas"]
    # The tenant and owner columns are filled in by rowgate, defaults by the database.
    assert schemas["tasks.insert"]["required"] == ["title"]
    assert (
        "rowgate fills in the caller's tenant"
        in schemas["tasks.insert"]["properties"]["org_id"]["description"]
    )
    assert schemas["projects.insert"]["required"] == ["name"]
    assert schemas["posts.insert"]["required"] == ["title"]
    # The answer to an insert without the tenant is the row with it filled in.
    await client.enrol("user_a")
    status, body = await client.call("POST", "/v1/data/tasks", "user_a", json={"title": "no tenant sent"})
    assert status == 201
    assert (body["data"]["org_id"], body["data"]["created_by"]) == (world.ORG_A, world.USER_A)


async def test_constraints_are_stated_as_the_server_enforces_them(client: Client) -> None:
    _, doc = await client.call("GET", "/v1/data/openapi.json")
    schemas = doc["components"]["schemas"]
    assert schemas["posts"]["properties"]["status"] == {"type": "string", "enum": ["draft", "published"]}
    assert schemas["projects"]["properties"]["name"]["minLength"] == 1
    # numeric(6, 2): what the column stores, as text or a number; jsonb: no \u0000 anywhere.
    estimate = schemas["tasks.insert"]["properties"]["estimate"]["anyOf"]
    assert estimate[1] == {"type": "number", "minimum": -9999.99, "maximum": 9999.99}
    for value, fits in [("9999.99", True), ("-0.5", True), ("10000", False), ("1.234", False)]:
        assert bool(re.search(estimate[0]["pattern"], value)) is fits, value
    assert schemas["tasks.insert"]["properties"]["meta"] == {"$ref": "#/components/schemas/JsonValue"}
    assert schemas["JsonValue"]["anyOf"][1] == {"type": "string", "pattern": "^[^\\x00]*$"}
    body = doc["paths"]["/tasks"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert [alternative.get("minItems") for alternative in body["anyOf"]] == [None, 1, 1]
    listing = {p["name"]: p["schema"] for p in doc["paths"]["/tasks"]["get"]["parameters"]}
    for value, fits in [("id,title", True), (" * ", True), ("", False), ("id,", False), ("*,id", False)]:
        assert bool(re.search(listing["select"]["pattern"], value)) is fits, value
    for value, fits in [("due.desc.nullslast, id", True), ("", False), ("due.nullsfirst.asc", False)]:
        assert bool(re.search(listing["order"]["pattern"], value)) is fits, value
    assert "minItems" not in listing["limit"]


async def test_every_status_an_operation_answers_is_documented_as_a_problem(client: Client) -> None:
    _, doc = await client.call("GET", "/v1/data/openapi.json")
    insert = doc["paths"]["/tasks"]["post"]["responses"]
    assert sorted(insert) == ["201", "400", "401", "403", "409", "413", "415", "422", "429", "503"]
    problem = insert["422"]["content"]["application/problem+json"]["schema"]
    assert problem == {"$ref": "#/components/schemas/Problem"}
    assert doc["components"]["schemas"]["Problem"]["required"] == [
        "type",
        "title",
        "status",
        "code",
        "detail",
    ]
    assert sorted(doc["paths"]["/tasks/{id}"]["patch"]["responses"]) == [
        "200",
        "400",
        "401",
        "403",
        "404",
        "409",
        "413",
        "415",
        "422",
        "429",
        "503",
    ]
    assert sorted(doc["paths"]["/tasks/{id}"]["get"]["responses"]) == [
        "200",
        "400",
        "401",
        "403",
        "404",
        "429",
        "503",
    ]


@pytest.mark.parametrize(
    ("column", "definition", "expected"),
    [
        ("status", "CHECK ((status = ANY (ARRAY['draft'::text, 'it''s'::text])))", (("draft", "it's"), None)),
        (
            "kind",
            "CHECK (((kind)::text = ANY ((ARRAY['a'::character varying, 'b'::character varying])::text[])))",
            (("a", "b"), None),
        ),
        ("name", "CHECK ((name <> ''::text))", ((), 1)),
        ("code", "CHECK (((code)::text <> ''::text))", ((), 1)),
        ("name", "CHECK ((length(name) < 5))", ((), None)),  # unreadable: left unsaid
        ("other", "CHECK ((name <> ''::text))", ((), None)),  # another column's
    ],
)
def test_check_constraints_read_plainly(column: str, definition: str, expected: tuple[object, ...]) -> None:
    found = read_checks(column, [definition])
    assert (found.labels, found.min_length) == expected


async def test_the_most_rows_documented_for_an_insert_fit_in_one_statement(client: Client) -> None:
    """An insert of as many rows as the document allows, each naming every column, is one the
    rewriter reads (one more would not be)."""
    tasks = client.server.app[SERVICES].data.policy.table("tasks")
    most = max_insert_rows(tasks, 10_000)
    row = {name: None for name in tasks.order if not tasks.columns[name].generated}
    tokens = Postgres().tokenize(build_insert(tasks, [row] * most).sql)
    assert len(tokens) <= MAX_TOKENS < len(Postgres().tokenize(build_insert(tasks, [row] * (most + 1)).sql))
    _, doc = await client.call("GET", "/v1/data/openapi.json")
    body = doc["paths"]["/tasks"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["anyOf"][2]["maxItems"] == most
