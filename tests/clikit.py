"""The ``rowgate`` command run in this process, as a test sees it run in a process of its own.

Starting ``python -m rowgate.proxy`` costs most of a second of CPU (importing sqlglot, aiohttp,
asyncpg, cryptography...).  A test whose subject is what a command prints and returns calls
``run``: ``rowgate.proxy.cli.main`` runs here, in the working folder and with the environment
the command would have had, its stdout and stderr captured, and the test gets what
``subprocess.run`` gives: a ``CompletedProcess`` with the exit code (argparse's ``SystemExit``
and an uncaught exception's traceback included) and the two outputs.  ``tests/test_clikit.py``
runs commands both ways and compares them, so that ``run`` cannot drift from the real thing.

A test whose subject is the process itself (``serve`` and ``demo`` listening, signals, workers,
the installed ``rowgate`` script) runs a real one with ``run_process``, in the same environment.

Whatever the command changes for the whole process is put back: the environment, the working
folder, ``sys.argv``, the standard streams, logging (``configure_logging`` replaces the root
logger's handlers and sets levels), warning filters, signal handlers, the event loop policy and
the embedded PostgreSQL handles ``main`` lets go of when it ends.  The command runs on a thread of
its own, as a process runs on its main thread: its ``asyncio.run`` makes a loop of its own there,
whether the test is sync or async (an async test's loop is only paused until the command ends,
so a command must not need a server the test runs on that loop).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import signal
import subprocess
import sys
import sysconfig
import threading
import traceback
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

#: The installed console script (``[project.scripts]``): what a user runs.
SCRIPT = Path(sysconfig.get_path("scripts")) / "rowgate"


def environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any ``ROWGATE_*`` variable, then ``env``: a command
    sees only the configuration its test gives it."""
    clean = {name: value for name, value in os.environ.items() if not name.startswith("ROWGATE_")}
    return {**clean, **(env or {})}


def run(
    *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``rowgate *args`` run in this process, as ``run_process`` would run it in another."""
    stdout, stderr = io.StringIO(), io.StringIO()
    codes: list[int] = []
    with _as_a_process(args, environment(env), cwd, stdout, stderr):
        thread = threading.Thread(target=lambda: codes.append(_main(args)), name="rowgate", daemon=True)
        thread.start()
        thread.join(timeout)
    if thread.is_alive():  # the process would be killed; a thread cannot be, but the test fails
        raise subprocess.TimeoutExpired(["rowgate", *args], timeout, stdout.getvalue(), stderr.getvalue())
    return subprocess.CompletedProcess(["rowgate", *args], codes[0], stdout.getvalue(), stderr.getvalue())


def run_process(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
    script: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``rowgate *args`` in a process of its own: ``python -m rowgate.proxy``, or with ``script``
    the installed ``rowgate`` console script."""
    command = [str(SCRIPT)] if script else [sys.executable, "-m", "rowgate.proxy"]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=environment(env)
    )


def _main(args: Sequence[str]) -> int:
    """What ``sys.exit(main())`` leaves as the exit code, as the interpreter reports it."""
    from rowgate.proxy.cli import main

    try:
        return main(list(args))
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    except BaseException:
        traceback.print_exc()
        return 1


@contextlib.contextmanager
def _as_a_process(
    args: Sequence[str], env: dict[str, str], cwd: Path | None, stdout: io.StringIO, stderr: io.StringIO
) -> Iterator[None]:
    # A process whose stdout is a pipe formats help for 80 columns unless COLUMNS says otherwise;
    # this one may have a terminal.
    env.setdefault("COLUMNS", "80")
    with contextlib.ExitStack() as stack:
        stack.enter_context(_environment(env))
        if cwd is not None:
            stack.enter_context(contextlib.chdir(cwd))
        stack.enter_context(_argv(["rowgate", *args]))
        stack.enter_context(contextlib.redirect_stdout(stdout))
        stack.enter_context(contextlib.redirect_stderr(stderr))
        stack.enter_context(_fresh_logging())
        stack.enter_context(_signals())
        stack.enter_context(_event_loop_policy())
        stack.enter_context(_embedded_servers())
        stack.enter_context(_warnings())
        yield


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _argv(argv: list[str]) -> Iterator[None]:
    saved, sys.argv = sys.argv, argv
    try:
        yield
    finally:
        sys.argv = saved


@contextlib.contextmanager
def _fresh_logging() -> Iterator[None]:
    """Logging as a new process has it while the command runs (no handler on the root, level
    WARNING: warnings reach stderr through ``logging.lastResort``); afterwards every logger's
    handlers, level, propagation and ``disabled`` as they were, and loggers the command created
    as new ones."""
    loggers = _loggers()
    saved = [(x, list(x.handlers), x.level, x.propagate, x.disabled) for x in loggers]
    disabled = logging.Logger.manager.disable
    root = logging.getLogger()
    root.handlers[:] = []
    root.setLevel(logging.WARNING)
    logging.disable(logging.NOTSET)
    try:
        yield
    finally:
        for new in set(_loggers()) - set(loggers):
            new.setLevel(logging.NOTSET)
            new.disabled = False
        for logger, handlers, level, propagate, off in saved:
            logger.handlers[:] = handlers
            logger.setLevel(level)
            logger.propagate, logger.disabled = propagate, off
        logging.disable(disabled)


def _loggers() -> list[logging.Logger]:
    """The root logger and every named one (placeholders aside)."""
    named = logging.Logger.manager.loggerDict.values()
    return [logging.getLogger(), *(x for x in named if isinstance(x, logging.Logger))]


@contextlib.contextmanager
def _signals() -> Iterator[None]:
    saved = {number: signal.getsignal(number) for number in signal.valid_signals()}
    try:
        yield
    finally:
        for number, handler in saved.items():
            if signal.getsignal(number) is not handler and handler is not None:
                signal.signal(number, handler)


@contextlib.contextmanager
def _event_loop_policy() -> Iterator[None]:
    import asyncio

    saved = asyncio.get_event_loop_policy()
    try:
        yield
    finally:
        if asyncio.get_event_loop_policy() is not saved:
            asyncio.set_event_loop_policy(saved)


@contextlib.contextmanager
def _embedded_servers() -> Iterator[None]:
    """``main`` lets go of every embedded server of the process as it ends (``stop_embedded``):
    only those the command started are its own."""
    from rowgate.auth import embedded

    held: dict[Path, Any] = dict(embedded._SERVERS)
    embedded._SERVERS.clear()
    try:
        yield
    finally:
        embedded.stop_embedded()
        embedded._SERVERS.update(held)


@contextlib.contextmanager
def _warnings() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():
        yield
