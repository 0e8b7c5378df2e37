"""Background tasks: stopping one cleanly."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

#: How long a cancelled task may take to finish before it is cancelled again (long enough for any
#: unwinding that awaits, a connection given back or closed, on a busy machine).
RECANCEL_AFTER = 5.0


async def cancel_and_wait(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel ``tasks`` and wait until each has finished unwinding (``None`` entries are skipped);
    an exception one of them ended with (other than its cancellation) is raised once all are done.

    A task still running ``RECANCEL_AFTER`` seconds after its cancellation is cancelled again, and
    so on until it ends: a library may swallow a cancellation that arrives inside its own code
    (redis-py's, seen keeping a store's state-check loop alive after the store was closed, so
    that shutting down waited for ever), and a loop that carried on would otherwise be waited
    for without end."""
    pending = {task for task in tasks if task is not None}
    finished = list(pending)
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=RECANCEL_AFTER)
    for task in finished:
        with contextlib.suppress(asyncio.CancelledError):
            task.result()
