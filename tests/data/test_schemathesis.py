"""schemathesis against a live rowgate (real PostgreSQL and Redis), signed in and not: every check,
a bounded number of examples per operation, no failure allowed.

The document under test is ``/openapi.json`` (the whole surface, the data API included).  Each run
is ``st run`` in a subprocess while the server runs in this test's event loop; its command line is
in the README's testing section.  ``schemathesis.toml`` next to this file says which operations
refuse some schema-valid input for reasons a JSON Schema cannot state (a wrong password, an
expired token, a filter value of the wrong type), and nothing else.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from rowgate.config import Settings
from tests.conftest import RunningServer
from tests.data.conftest import Client, Start

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONFIG = Path(__file__).with_name("schemathesis.toml")
#: Examples per operation and phase: enough to reach every status, few enough for CI (minutes).
EXAMPLES = int(os.environ.get("ROWGATE_SCHEMATHESIS_EXAMPLES", "25"))
#: Operations that end the signed-in run's own session (switching organisation too: the new
#: tokens replace it); they are run signed out as well.
_ENDS_SESSION = r"^/v1/auth/(signout|sessions.*|withdraw|password/change|switch-org)$"


async def schemathesis(url: str, *extra: str) -> tuple[int, str]:
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(CONFIG),
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(EXAMPLES),
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--workers",
        "1",
        "--seed",
        "1",
        "--generation-database",
        "none",
        "--no-color",
        "--generation-with-security-parameters",
        "false",
        "--output-sanitize",
        "false",
        *extra,
        *os.environ.get("ROWGATE_SCHEMATHESIS_ARGS", "").split(),  # e.g. another --seed
    ]
    with tempfile.TemporaryDirectory() as scratch:  # schemathesis keeps a cache where it runs
        process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=scratch
        )
        output, _ = await process.communicate()
    assert process.returncode is not None
    text = output.decode(errors="replace")
    if os.environ.get("ROWGATE_SCHEMATHESIS_LOG"):  # the whole report of every run, for a look
        with Path(os.environ["ROWGATE_SCHEMATHESIS_LOG"]).open("a") as log:
            log.write(text)
    return process.returncode, text


@pytest.fixture
async def server(data_settings: Callable[..., Settings], start_rowgate: Start) -> RunningServer:
    """The data world without rate limits: a run's requests should reach the handlers."""
    return await start_rowgate(data_settings(**{"rate_limits.enabled": False}))


async def test_signed_out_no_failures(client: Client) -> None:
    code, output = await schemathesis(client.server.url)
    assert code == 0, output[-20000:]


async def test_signed_in_as_an_admin_no_failures(client: Client) -> None:
    await client.enrol("admin_a")
    bearer = client.headers("admin_a")["Authorization"]
    code, output = await schemathesis(
        client.server.url, "--header", f"Authorization: {bearer}", "--exclude-path-regex", _ENDS_SESSION
    )
    assert code == 0, output[-20000:]
