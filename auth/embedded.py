"""An embedded PostgreSQL (the ``pgserver`` package) for running rowgate with no database configured.

The server lives in ``<data_dir>/postgres`` and is shared by every rowgate process that
uses the same folder; it stops when the last of them exits.  This is for one machine:
development, demos and small installs.  Production deployments set ``database.url``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import warnings
from pathlib import Path

from rowgate.errors import ServiceUnavailable

log = logging.getLogger("rowgate.embedded")


def _start(folder: Path) -> str:
    # platformdirs warns when XDG_RUNTIME_DIR is unset (common in containers); it falls back fine.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgserver import get_server  # type: ignore[attr-defined]

        server = get_server(folder, cleanup_mode="stop")
        return str(server.get_uri())


async def start_embedded(data_dir: Path) -> str:
    """Start (or join) the embedded server in ``data_dir``; return its connection URL."""
    folder = data_dir / "postgres"
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    log.info("database.url is not set: starting an embedded PostgreSQL in %s (one machine only)", folder)
    try:
        return await asyncio.to_thread(_start, folder)
    except Exception as exc:  # pgserver raises plain exceptions of several kinds
        raise ServiceUnavailable(
            f"could not start the embedded PostgreSQL in {folder}: {exc}. "
            "Set database.url (or ROWGATE_DATABASE_URL) to use your own server."
        ) from exc
