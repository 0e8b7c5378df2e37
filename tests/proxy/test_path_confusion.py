"""Path confusion over real HTTP: a guest sends paths that a Tomcat, Spring, IIS or nginx behind
rowgate could read as an admin route; an upstream records the raw path it receives.  Every such
path is refused before the upstream sees anything, and every other path reaches it in the one
canonical form its route rule was decided on."""

from __future__ import annotations

import pytest
from aiohttp import web

from tests.conftest import RunningServer, SettingsFactory
from tests.proxy.authkit import Start, StartApp
from tests.proxy.test_bad_http import raw_exchange
from tests.proxy.test_paths import HOSTILE

pytestmark = pytest.mark.integration

RULES = {
    "routes.default": "deny",
    "routes.rules": [{"path": "/public/**", "level": "public"}, {"path": "/admin-only/**", "level": "admin"}],
}


class Recorder:
    """An upstream that answers every path and remembers the raw request target it received."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self.record)

    async def record(self, request: web.Request) -> web.Response:
        self.seen.append(request.raw_path)
        return web.Response(text="reached")


@pytest.fixture
async def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def proxy(
    recorder: Recorder, make_settings: SettingsFactory, start_rowgate: Start, start_app: StartApp
) -> RunningServer:
    upstream = await start_app(recorder.app)
    return await start_rowgate(make_settings(**RULES, **{"upstream.url": upstream}))


async def _get(proxy: RunningServer, target: str) -> tuple[int, bytes]:
    request = f"GET {target} HTTP/1.1\r\nHost: rowgate.test\r\nConnection: close\r\n\r\n"
    status, _, body = await raw_exchange(proxy.url, request.encode("utf-8", "surrogateescape"))
    return status, body


async def test_a_hostile_path_never_reaches_the_upstream(proxy: RunningServer, recorder: Recorder) -> None:
    answers = {
        target: await _get(proxy, target.replace(" ", "%20")) for target in HOSTILE if target[0] == "/"
    }
    # Raw control and non-ASCII bytes are already refused by the HTTP parser (malformed_request).
    assert {t: status for t, (status, _) in answers.items() if status != 400} == {}
    assert [t for t, (_, body) in answers.items() if b'"invalid_path"' not in body] == [
        "/public/\x00",
        "/public/\x7f",
        "/public/\uff0e\uff0e/admin-only",
        "/public/\uff0e%ef%bc%8e/admin-only",
        "/public/\u2024\u2024/admin-only",
        "/public/\uff05",
        "/public/\udcff",
    ]
    assert recorder.seen == []


ACCEPTED = {
    "/public/a/b": "/public/a/b",
    "/public/caf%c3%a9?q=%2e": "/public/caf%C3%A9?q=%2e",
    "/public/%7euser/%41": "/public/~user/A",
    "/public/a%3fb": "/public/a%3Fb",
    "/public/%EF%BC%A1": "/public/A",
}


async def test_the_upstream_receives_the_path_the_rule_was_decided_on(
    proxy: RunningServer, recorder: Recorder
) -> None:
    for target in ACCEPTED:
        assert await _get(proxy, target) == (200, b"reached")
    assert recorder.seen == list(ACCEPTED.values())


async def test_an_encoded_spelling_of_an_admin_path_is_still_the_admin_path(
    proxy: RunningServer, recorder: Recorder
) -> None:
    for target in ("/admin-only/x", "/%61dmin-only/x", "/admin-only/%78"):
        status, _ = await _get(proxy, target)
        assert status == 401
    assert recorder.seen == []


async def test_letter_case_follows_the_configuration(
    recorder: Recorder, make_settings: SettingsFactory, start_rowgate: Start, start_app: StartApp
) -> None:
    upstream = await start_app(recorder.app)
    rules = {**RULES, "routes.rules": [*RULES["routes.rules"], {"path": "/**", "level": "public"}]}
    exact = await start_rowgate(make_settings(**rules, **{"upstream.url": upstream}))
    folded = await start_rowgate(
        make_settings(**rules, **{"upstream.url": upstream, "routes.case_sensitive": False})
    )
    assert (await _get(exact, "/Admin-Only/x"))[0] == 200  # another path, for a case-sensitive app
    assert (await _get(folded, "/Admin-Only/x"))[0] == 401
    assert recorder.seen == ["/Admin-Only/x"]
