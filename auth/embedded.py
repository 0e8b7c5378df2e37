"""An embedded PostgreSQL (the ``pgserver`` package) for running rowgate with no database configured.

The server lives in ``<data_dir>/postgres``.  A process starts it once (later calls return the
same URL) and lets go of it with ``stop_embedded``; every rowgate process using the same folder
shares it, and it stops cleanly when the last of them lets go.  This is for one machine:
development, demos and small installs.  Production deployments set ``database.url``.

PostgreSQL refuses to run as root.  When rowgate runs as root, the server runs as the system user
``pgserver`` (pgserver's fixed name; rowgate creates it as a system account with no login shell
and no home if it is missing) and owns ``<data_dir>/postgres``.  It reaches that folder through
``<data_dir>``, which rowgate keeps at mode 0711: other users may pass through it but not list it
or write in it, and what rowgate keeps there is its own (``master.key`` 0600, ``mail/`` 0700).
(pgserver runs the server with root's group, so a group cannot grant this.)  pgserver also adds
read and traverse permission for everyone on each folder above ``<data_dir>``.  Any other user:
``<data_dir>`` is mode 0700 and the server runs as that user.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pwd
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Any

from rowgate.errors import ServiceUnavailable

log = logging.getLogger("rowgate.embedded")

DATABASE_USER = "pgserver"
"""The system user pgserver runs PostgreSQL as when started by root (its name is fixed by pgserver)."""

_SERVERS: dict[Path, Any] = {}  # the pgserver handles this process holds, by data folder


async def start_embedded(data_dir: Path) -> str:
    """Start (or join) the embedded server in ``data_dir``, once per process; return its URL."""
    return await asyncio.to_thread(_start, data_dir)


def stop_embedded() -> None:
    """Let go of the embedded servers this process started; each stops when its last user lets go."""
    while _SERVERS:
        folder, server = _SERVERS.popitem()
        log.info("stopping the embedded PostgreSQL in %s", folder)
        try:
            server.cleanup()
        except Exception as exc:  # pgserver raises plain exceptions, e.g. when the server died meanwhile
            log.warning("the embedded PostgreSQL in %s did not stop cleanly: %s", folder, exc)


def _start(data_dir: Path) -> str:
    folder = data_dir.resolve() / "postgres"
    if folder in _SERVERS:
        return str(_SERVERS[folder].get_uri())
    data_dir.mkdir(parents=True, exist_ok=True)
    shared = _as_root()
    _protect(data_dir, shared)
    log.info("database.url is not set: starting an embedded PostgreSQL in %s (one machine only)", folder)
    try:
        _SERVERS[folder] = _launch(folder)
    except Exception as exc:  # pgserver raises plain exceptions of several kinds
        raise ServiceUnavailable(
            f"could not start the embedded PostgreSQL in {folder}: {exc}. "
            "Set database.url (or ROWGATE_DATABASE_URL) to use your own server."
        ) from exc
    _protect(data_dir, shared)  # as root, pgserver opens every parent of the folder to everyone
    return str(_SERVERS[folder].get_uri())


def _launch(folder: Path) -> Any:
    # platformdirs warns when XDG_RUNTIME_DIR is unset (common in containers); it falls back fine.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver import get_server  # type: ignore[attr-defined]

        _forget_exited_processes(folder)
        return get_server(folder, cleanup_mode="stop")


def _forget_exited_processes(folder: Path) -> None:
    """Drop from pgserver's list of users of the server the processes that ended without letting go
    (killed): otherwise the server would never stop when the last live one exits."""
    handles = folder / ".handle_pids.json"
    with contextlib.suppress(OSError, ValueError):
        pids = json.loads(handles.read_text())
        alive = [pid for pid in pids if isinstance(pid, int) and _running(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, and another user's
        pass
    return True


def _protect(data_dir: Path, shared: bool) -> None:
    """``data_dir`` for rowgate's user alone, or (as root) passable by the database's user too."""
    os.chmod(data_dir, 0o711 if shared else 0o700)


def _as_root() -> bool:
    """Whether rowgate runs as root; then the database's system user exists (created if missing)."""
    if os.geteuid() != 0:
        return False
    try:
        pwd.getpwnam(DATABASE_USER)
    except KeyError:
        _create_database_user()
    log.info(
        "running as root: the embedded PostgreSQL runs as the system user %r (PostgreSQL refuses root)",
        DATABASE_USER,
    )
    return True


def _create_database_user() -> None:
    useradd = shutil.which("useradd")
    if useradd is None:
        raise ServiceUnavailable(
            f"running as root, the embedded PostgreSQL needs a system user {DATABASE_USER!r} and "
            "useradd is not installed: create that user, run rowgate as another user, or set database.url."
        )
    command = [useradd, "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent"]
    result = subprocess.run(  # noqa: S603 (fixed arguments)
        [*command, "--shell", "/usr/sbin/nologin", DATABASE_USER], capture_output=True, text=True, check=False
    )
    if result.returncode not in (0, 9):  # 9: created meanwhile by another process
        raise ServiceUnavailable(
            f"could not create the system user {DATABASE_USER!r} for the embedded PostgreSQL: "
            f"{result.stderr.strip()}"
        )
    log.warning("created the system user %r (no login, no home) for the embedded PostgreSQL", DATABASE_USER)
