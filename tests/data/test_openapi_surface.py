"""``GET /openapi.json``: one document for everything rowgate answers itself, and only that."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from aiohttp import web

from rowgate.config import Settings
from tests.conftest import RunningServer
from tests.data.conftest import Client, Start

pytestmark = pytest.mark.integration

_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def registered(app: web.Application) -> set[tuple[str, str]]:
    """(method, path template) of every route rowgate answers itself (the catch-all excluded)."""
    found = set()
    for resource in app.router.resources():
        info = resource.get_info()
        path = info.get("path") or info.get("formatter")
        if path is None or path == "/{tail}":
            continue
        found.update((route.method, path) for route in resource if route.method in _METHODS)
    return found


def documented(doc: dict[str, object], data_mount: str) -> set[tuple[str, str]]:
    """(method, path template) of every operation, data tables folded into ``{table}``."""
    found = set()
    paths = doc["paths"]
    assert isinstance(paths, dict)
    for path, operations in paths.items():
        if path.startswith(data_mount + "/") and path != data_mount + "/openapi.json":
            path = re.sub(rf"^{re.escape(data_mount)}/[^/]+", data_mount + "/{table}", path)
        found.update((method.upper(), path) for method in operations)
    return found


async def test_every_registered_route_is_documented_and_every_documented_path_registered(
    client: Client,
) -> None:
    status, doc = await client.call("GET", "/openapi.json")
    assert status == 200
    assert documented(doc, "/v1/data") == registered(client.server.app)
    assert doc["openapi"] == "3.1.0"


async def test_mounts_and_metrics_follow_the_settings(
    data_settings: Callable[..., Settings], start_rowgate: Start, client: Client
) -> None:
    moved: RunningServer = await start_rowgate(
        data_settings(**{"mounts.auth": "/auth", "mounts.data": "/rows", "server.metrics": False})
    )
    other = Client(client.http, moved)
    status, doc = await other.call("GET", "/openapi.json")
    assert status == 200
    assert "/auth/email/signin" in doc["paths"]
    assert "/rows/tasks" in doc["paths"]
    assert "/metrics" not in doc["paths"]
    assert documented(doc, "/rows") == registered(moved.app)


async def test_each_configured_provider_s_sign_in_routes_are_documented(
    data_settings: Callable[..., Settings],
    start_rowgate: Start,
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GITHUB_SECRET", "s3cret")
    github = {
        "kind": "github",
        "client_id": "rowgate",
        "client_secret_env": "GITHUB_SECRET",
        "authorize_url": "http://127.0.0.1:9/login/oauth/authorize",
        "token_url": "http://127.0.0.1:9/login/oauth/access_token",
        "api_url": "http://127.0.0.1:9",
    }
    settings = data_settings(
        **{"auth.providers": {"github": github}, "auth.callback_urls": ["http://127.0.0.1:3000/cb"]}
    )
    server: RunningServer = await start_rowgate(settings)
    status, doc = await Client(client.http, server).call("GET", "/openapi.json")
    assert status == 200
    assert documented(doc, "/v1/data") == registered(server.app)
    authorize = doc["paths"]["/v1/auth/{provider}/authorize"]["get"]
    assert "302" in authorize["responses"]
    required = {p["name"]: p["schema"] for p in authorize["parameters"] if p["required"]}
    assert required == {
        "callbackUrl": {"type": "string", "maxLength": 2048},
        "provider": {"type": "string", "enum": ["github"]},
    }
    assert sorted(doc["paths"]["/v1/auth/{provider}/callback"]) == ["get", "post"]


async def test_bodies_are_the_handlers_models_and_errors_are_problems(client: Client) -> None:
    _, doc = await client.call("GET", "/openapi.json")
    schemas = doc["components"]["schemas"]
    create = doc["paths"]["/v1/auth/api-keys"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CreateKey"
    }
    assert schemas["CreateKey"]["required"] == ["name", "type"]
    assert schemas["CreateKey"]["additionalProperties"] is False  # the model forbids unknown fields
    window = schemas["RateLimit"]["properties"]["window"]
    assert window["anyOf"][0] == {"type": "integer", "minimum": 1, "maximum": 86400}
    assert sorted(create["responses"]) == ["201", "400", "401", "403", "413", "415", "422", "429", "503"]
    problem = create["responses"]["422"]["content"]["application/problem+json"]["schema"]
    assert problem == {"$ref": "#/components/schemas/Problem"}
    assert create["security"] == [{"bearer": []}, {"apiKey": []}]
    signin = doc["paths"]["/v1/auth/email/signin"]["post"]
    assert signin["security"] == [{}]
    assert "401" in signin["responses"]  # a wrong password
    # The data part is generated from the policy, as the data API's own document is.
    _, data = await client.call("GET", "/v1/data/openapi.json")
    assert (
        doc["paths"]["/v1/data/tasks"]["post"]["requestBody"]
        == data["paths"]["/tasks"]["post"]["requestBody"]
    )
    assert schemas["tasks.insert"] == data["components"]["schemas"]["tasks.insert"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/openapi.json", "GET, HEAD"),
        ("POST", "/v1/data/openapi.json", "GET, HEAD"),  # not a table named openapi.json
        ("DELETE", "/v1/auth/invitations/accept", "GET, POST"),  # not an invitation named accept
    ],
)
async def test_an_undocumented_method_is_405(client: Client, method: str, path: str, allow: str) -> None:
    async with client.http.request(method, client.server.url + path, json={}) as response:
        assert response.status == 405
        assert response.headers["Allow"] == allow
        assert (await response.json(content_type=None))["code"] == "method_not_allowed"
