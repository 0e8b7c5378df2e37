"""Which database the policy tools (``rowgate policy ...``) read, and why.

In order: ``--database-url`` (given empty: none); the configuration's ``database.url`` (or
``ROWGATE_DATABASE_URL``); the embedded PostgreSQL in ``data_dir`` when it is running, which is
the quick start's database while ``rowgate demo`` (or ``serve``) runs in the same folder.  The
tools never start a database themselves: when there is none, the choice says why, and each tool
says what it skipped or what to pass.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from rowgate.config.schema import Settings
from rowgate.proxy.data.policy_cli import DatabaseChoice


def choose_database(settings: Settings, flag: str | None) -> DatabaseChoice:
    """The database for the policy tools: ``flag`` (``--database-url``), the configured one,
    or the running embedded one."""
    if flag is not None:
        return DatabaseChoice(flag or None, "--database-url" if flag else "--database-url is empty")
    if settings.database.url:
        return DatabaseChoice(settings.database.url, "database.url of the configuration")
    folder = settings.data_dir / "postgres"
    url = running_embedded_url(folder)
    if url is not None:
        return DatabaseChoice(url, f"the embedded PostgreSQL in {folder}")
    return DatabaseChoice(
        None,
        f"no --database-url, database.url is not set, and no embedded PostgreSQL runs in {folder} "
        "(`rowgate demo` in this folder starts one)",
    )


def running_embedded_url(folder: Path) -> str | None:
    """The URL of the embedded server whose data is in ``folder``, if it is running."""
    if not (folder / "postmaster.pid").exists():
        return None
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (common in containers); harmless here.
        warnings.simplefilter("ignore")
        from pgserver.utils import PostmasterInfo

    try:
        info = PostmasterInfo.read_from_pgdata(folder)
        if info is None or not info.is_running() or info.status != "ready":
            return None
        return str(info.get_uri())
    except Exception:  # pgserver and psutil raise several kinds: a file half written, a stale one
        return None
