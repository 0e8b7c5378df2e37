"""The pipeline's order as a client and the upstream see it: authenticate → rate limit →
authorize → mutate → forward.

An upstream records the raw headers of every request it receives, so that a header sent twice,
or dropped where it should have been replaced, would show.
"""

from __future__ import annotations

import uuid

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict

from rowgate.proxy.appkeys import SERVICES
from tests.conftest import RunningServer, SettingsFactory
from tests.proxy.authkit import Start, StartApp

pytestmark = pytest.mark.integration

ROUTES = {
    "routes.default": "deny",
    "routes.rules": [
        {"path": "/public/**", "level": "public"},
        {"path": "/admin-only/**", "level": "admin"},
    ],
}
SPOOFED = {
    "X-Rowgate-Role": "admin",
    "X-ROWGATE-AUTH-METHOD": "password",
    "x-rowgate-user-id": "someone-else",
}


class Recorder:
    """An upstream that answers 200 and keeps each request's raw header list."""

    def __init__(self) -> None:
        self.received: list[list[tuple[str, str]]] = []

    async def record(self, request: web.Request) -> web.Response:
        self.received.append([(k.decode(), v.decode()) for k, v in request.raw_headers])
        return web.Response(text="ok")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.record)
        return app


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


async def start(
    make_settings: SettingsFactory,
    start_rowgate: Start,
    start_app: StartApp,
    recorder: Recorder,
    **extra: object,
) -> RunningServer:
    upstream = await start_app(recorder.app())
    return await start_rowgate(make_settings(**ROUTES, **{"upstream.url": upstream, **extra}))


def member_token(server: RunningServer) -> tuple[str, dict[str, str]]:
    user, sid, org = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    issued = server.app[SERVICES].tokens.issue_access(
        sub=user, sid=sid, amr=["pwd"], org_id=org, role="member"
    )
    trusted = {
        "X-Rowgate-User-Id": user,
        "X-Rowgate-Org-Id": org,
        "X-Rowgate-Role": "member",
        "X-Rowgate-Session-Id": sid,
        "X-Rowgate-Auth-Method": "password",
    }
    return issued.token, trusted


async def test_an_identity_header_the_client_sent_is_replaced_by_the_trusted_one(
    make_settings: SettingsFactory,
    start_rowgate: Start,
    start_app: StartApp,
    recorder: Recorder,
    http: aiohttp.ClientSession,
) -> None:
    server = await start(make_settings, start_rowgate, start_app, recorder)
    token, trusted = member_token(server)
    headers = CIMultiDict({"Authorization": f"Bearer {token}", **SPOOFED})
    headers.add("X-Rowgate-Role", "owner")  # the same header twice
    async with http.get(f"{server.url}/public/x", headers=headers) as response:
        assert response.status == 200
    (received,) = recorder.received
    identity = [(k, v) for k, v in received if k.lower().startswith("x-rowgate-")]
    # Deleted first, then added: each trusted header exactly once, and nothing the client sent.
    assert identity == list(trusted.items())
    assert "authorization" not in {k.lower() for k, _ in received}


async def test_authorization_reads_the_authenticated_caller_never_its_headers(
    make_settings: SettingsFactory,
    start_rowgate: Start,
    start_app: StartApp,
    recorder: Recorder,
    http: aiohttp.ClientSession,
) -> None:
    server = await start(make_settings, start_rowgate, start_app, recorder)
    token, _ = member_token(server)
    for credential, status, code in (
        ({}, 401, "unauthorized"),
        ({"Authorization": f"Bearer {token}"}, 403, "admin_required"),
    ):
        async with http.get(f"{server.url}/admin-only/x", headers={**credential, **SPOOFED}) as response:
            assert response.status == status
            assert (await response.json())["code"] == code
    assert recorder.received == []


async def test_the_rate_limit_is_spent_before_the_route_rule_decides(
    make_settings: SettingsFactory,
    start_rowgate: Start,
    start_app: StartApp,
    recorder: Recorder,
    http: aiohttp.ClientSession,
) -> None:
    small = {"rate_limits.ip": {"limit": 2, "window": "1m"}}
    server = await start(make_settings, start_rowgate, start_app, recorder, **small)
    answers = []
    for _ in range(3):
        async with http.get(f"{server.url}/no-rule-allows-this") as response:
            answers.append((response.status, (await response.json())["code"], response.headers["RateLimit"]))
    assert [(status, code) for status, code, _ in answers] == [
        (403, "route_denied"),
        (403, "route_denied"),
        (429, "rate_limited"),
    ]
    assert [limit.split(";")[1] for _, _, limit in answers] == ["r=1", "r=0", "r=0"]
    assert recorder.received == []
