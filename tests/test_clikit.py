"""``tests.clikit.run`` gives what the installed ``rowgate`` gives, and leaves this process as it was.

The tests of what a command prints and returns run it in the test's process (``clikit.run``);
here the same commands also run through the real console script, in a process of their own,
and both must give the same exit code, stdout and stderr.  This also keeps the packaging covered:
the ``rowgate`` script installed by ``[project.scripts]`` runs a command end to end.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from tests import clikit
from tests.proxy.test_cli import free_port

BAD_CONFIG = "tokens:\n  access_ttl: abc\nserver:\n  prot: 80\n"

#: Each command, with the files it needs in its working folder.
COMMANDS: dict[str, tuple[list[str], dict[str, str]]] = {
    "a good configuration": (["check-config"], {}),
    "a configuration mistake": (["check-config", "--config", "bad.yaml"], {"bad.yaml": BAD_CONFIG}),
    "an argument argparse refuses": (["serve", "--port", "eighty"], {}),
    "help": (["keys", "rotate", "--help"], {}),
    "a cases file that is not there": (["policy", "test", "cases.yaml"], {}),
}


def stamps_out(text: str) -> str:
    """``text`` without the time of each JSON log line (two runs log at different times)."""
    return re.sub(r'"ts":"[^"]*"', '"ts":"…"', text)


def outcome(done: Any) -> tuple[int, str, str]:
    return done.returncode, stamps_out(done.stdout), stamps_out(done.stderr)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_in_process_and_the_installed_script_give_the_same_answer(name: str, tmp_path: Path) -> None:
    args, files = COMMANDS[name]
    for file, text in files.items():
        (tmp_path / file).write_text(text)

    here = clikit.run(*args, cwd=tmp_path)
    real = clikit.run_process(*args, cwd=tmp_path, script=True)

    assert outcome(here) == outcome(real)
    assert real.stdout + real.stderr  # every one of them says something


@pytest.mark.integration
def test_a_command_that_configures_logging_and_fails_on_the_database(tmp_path: Path) -> None:
    """``migrate``: asyncio, logging to stderr in JSON, and a ``RowgateError`` made exit code 1."""
    env = {"ROWGATE_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/none"}

    here = clikit.run("migrate", env=env, cwd=tmp_path)
    real = clikit.run_process("migrate", env=env, cwd=tmp_path, script=True)

    assert outcome(here) == outcome(real)
    assert here.returncode == 1
    assert '"level":"warning","logger":"rowgate.db"' in here.stderr


def state() -> dict[str, Any]:
    """What a command could change for the whole process and the kit puts back."""
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in ("aiohttp.access", "pgserver"))]
    return {
        "environment": dict(os.environ),
        "cwd": Path.cwd(),
        "argv": list(sys.argv),
        "streams": (sys.stdout, sys.stderr),
        "loggers": [(x.level, x.disabled, x.propagate, list(x.handlers)) for x in loggers],
        "signals": {number: signal.getsignal(number) for number in signal.valid_signals()},
        "policy": asyncio.get_event_loop_policy(),
        "warnings": list(warnings.filters),
    }


@pytest.mark.integration
def test_the_process_is_left_as_it_was(tmp_path: Path, fresh_database: str) -> None:
    before = state()

    migrated = clikit.run("migrate", env={"ROWGATE_DATABASE_URL": fresh_database}, cwd=tmp_path)

    assert migrated.returncode == 0, migrated.stderr
    assert "applying migration 0001_foundation" in migrated.stdout
    assert state() == before


def test_the_embedded_servers_of_the_process_are_not_let_go(tmp_path: Path) -> None:
    """``main`` lets go of every embedded PostgreSQL of its process as it ends: in a test's process,
    one a test started must outlive a command."""
    from rowgate.auth import embedded

    class Handle:
        stopped = False

        def cleanup(self) -> None:
            self.stopped = True

    handle, folder = Handle(), tmp_path / "postgres"
    embedded._SERVERS[folder] = handle
    try:
        done = clikit.run("check-config", cwd=tmp_path)
        assert embedded._SERVERS.get(folder) is handle
    finally:
        embedded._SERVERS.pop(folder, None)

    assert done.returncode == 0, done.stderr
    assert not handle.stopped


async def test_an_async_test_may_run_a_command(tmp_path: Path) -> None:
    """The command's ``asyncio.run`` runs on a thread of its own, not in this test's loop."""
    loop = asyncio.get_running_loop()
    env = {"ROWGATE_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/none"}

    done = clikit.run("doctor", env=env, cwd=tmp_path)

    assert done.returncode == 1, done.stderr
    assert "PROBLEM database: cannot connect to postgresql://postgres@127.0.0.1:" in done.stdout
    assert asyncio.get_running_loop() is loop
    assert not loop.is_closed()
