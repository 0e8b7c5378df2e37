"""Access logs: one JSON line per request, with its id, and never a secret."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from rowgate.config import Settings
from rowgate.proxy.appkeys import SERVICES
from rowgate.proxy.logs import JsonFormatter
from tests.conftest import RunningServer, SettingsFactory

pytestmark = pytest.mark.integration


async def test_one_access_line_per_request_without_secrets(
    make_settings: SettingsFactory,
    start_rowgate: Callable[[Settings], Awaitable[RunningServer]],
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = await start_rowgate(make_settings(**{"logging.access_log": True, "upstream.url": None}))
    token = (
        server.app[SERVICES]
        .tokens.issue_access(sub="u1", sid="s1", amr=["pwd"], org_id="o1", role="admin")
        .token
    )
    caplog.set_level(logging.INFO, logger="rowgate.access")
    async with http.get(
        f"{server.url}/healthz?access_token=secret-in-query",
        headers={"Authorization": f"Bearer {token}", "X-Request-Id": "req-42"},
    ) as response:
        assert response.status == 200
    (record,) = [r for r in caplog.records if r.name == "rowgate.access"]
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "req-42"
    assert line["path"] == "/healthz"
    assert line["status"] == 200
    assert line["method"] == "GET"
    assert line["user_id"] == "u1"
    assert line["org_id"] == "o1"
    assert line["level"] == "info"
    text = json.dumps(line)
    assert "secret-in-query" not in text
    assert token not in text
    assert token.split(".")[1] not in text


def test_the_json_formatter_includes_the_request_id_and_extras() -> None:
    from rowgate.proxy.logs import request_id_var

    reset = request_id_var.set("abc")
    try:
        record = logging.LogRecord("rowgate.test", logging.WARNING, __file__, 1, "hello %s", ("world",), None)
        record.user_id = "u"
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(reset)
    assert line["msg"] == "hello world"
    assert line["request_id"] == "abc"
    assert line["user_id"] == "u"
    assert line["level"] == "warning"
