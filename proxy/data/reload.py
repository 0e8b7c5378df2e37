"""Policy reload: a changed policy file (or SIGHUP) is validated and swapped in atomically.

``PolicyHolder.current`` is the snapshot in force.  ``reload`` builds a new snapshot from the
file and a fresh look at the database (putting up the second wall for it) and replaces
``current`` in one assignment; an invalid file is logged with every problem and the old snapshot
stays, and so does one whose second wall could not be put up in ``mode: production`` (a closed
data API is only ever replaced, never the cause of closing an open one).  A request reads ``current`` once
at its start, so requests in flight finish under the policy they started with.

The file is watched by polling its size, modification time and inode every
``data.reload_interval`` (cheap, and it works with editors that replace the file and with
mounted config maps); SIGHUP reloads every holder in the process at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from rowgate.auth.tasks import cancel_and_wait
from rowgate.errors import ConfigError, RowgateError
from rowgate.proxy.data.policy import DataPolicy

log = logging.getLogger("rowgate.policy")

Loader = Callable[[Path | None], Awaitable[DataPolicy]]
Stamp = tuple[int, int, int] | None

_holders: set[PolicyHolder] = set()


class PolicyHolder:
    """The policy snapshot in force, and how to replace it."""

    def __init__(self, path: Path | None, loader: Loader, initial: DataPolicy) -> None:
        self.path = path
        self.current = initial
        self.last_error: str | None = None
        self._loader = loader
        self._lock = asyncio.Lock()
        self._stamp = _stamp(path)

    async def reload(self, reason: str = "requested") -> bool:
        """Load the file again; swap it in when valid.  Returns whether the policy changed."""
        async with self._lock:
            self._stamp = _stamp(self.path)
            if self._stamp is None and self.path is not None:
                return self._failed(reason, [f"{self.path}: file not found"])
            try:
                fresh = await self._loader(self.path)
            except ConfigError as error:
                return self._failed(reason, error.problems)
            except RowgateError as error:
                return self._failed(reason, [error.detail])
            if fresh.closed and not self.current.closed:
                # The policy in force has its second wall; the new one could not get its own.
                return self._failed(reason, [fresh.wall_down or "the second wall is down"])
            old, self.current, self.last_error = self.current, fresh, None
            log.info(
                "policy reloaded (%s): version %s -> %s, %d table(s) served",
                reason,
                old.version,
                fresh.version,
                len(fresh.tables),
            )
            return True

    def _failed(self, reason: str, problems: list[str]) -> bool:
        self.last_error = "; ".join(problems)
        log.error(
            "policy reload (%s) failed; the previous policy (version %s) stays in force:\n  %s",
            reason,
            self.current.version,
            "\n  ".join(problems),
        )
        return False

    def changed(self) -> bool:
        """Whether the file looks different from when it was last loaded."""
        stamp = _stamp(self.path)
        return stamp is not None and stamp != self._stamp

    async def watch(self, interval: float) -> None:
        """Reload whenever the file changes (runs until cancelled)."""
        while True:
            await asyncio.sleep(interval)
            if self.changed():
                await self.reload("file changed")


@contextlib.asynccontextmanager
async def watching(holder: PolicyHolder, interval: float | None) -> AsyncIterator[None]:
    """Watch the file (when ``interval`` is given) and answer SIGHUP while the block runs."""
    task = asyncio.create_task(holder.watch(interval)) if interval else None
    _holders.add(holder)
    installed = _install_sighup()
    try:
        yield
    finally:
        _holders.discard(holder)
        if installed and not _holders:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        await cancel_and_wait(task)


def _install_sighup() -> bool:
    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, _on_sighup)
    except (NotImplementedError, RuntimeError, ValueError, AttributeError):
        return False  # not the main thread, or a platform without SIGHUP
    return True


_pending: set[asyncio.Task[bool]] = set()


def _on_sighup() -> None:
    for holder in list(_holders):
        task = asyncio.ensure_future(holder.reload("SIGHUP"))
        _pending.add(task)
        task.add_done_callback(_pending.discard)


def _stamp(path: Path | None) -> Stamp:
    if path is None:  # policies: null, no file to watch
        return None
    try:
        status = os.stat(path)
    except OSError:
        return None
    return (status.st_mtime_ns, status.st_size, status.st_ino)
