"""The OpenAPI 3.1 document of the data API, generated from the policy and the introspected tables."""

from __future__ import annotations

import pytest

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
    assert tasks["priority"] == {"type": "integer", "format": "int32"}
    assert tasks["due"] == {"type": ["string", "null"], "format": "date"}
    assert tasks["tags"] == {"type": "array", "items": {"type": "string"}}
    assert tasks["internal_notes"]["description"] == "hidden from: user"
    insert = doc["components"]["schemas"]["tasks.insert"]
    assert insert["required"] == ["org_id", "title"]
    assert "required" not in doc["components"]["schemas"]["tasks.update"]
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
