"""Last-used times and use counts of API keys, counted in memory and written in batches.

Authenticating a key must not cost a database write: ``record`` adds to two dictionaries, and a
background task writes everything counted every ``api_keys.usage_flush_interval`` in one
statement.  A failed write keeps the counts for the next round; closing writes what is left.
Figures in the database therefore trail the truth by up to one interval per instance.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from rowgate.auth.db import Database
from rowgate.auth.tasks import cancel_and_wait
from rowgate.errors import RowgateError

log = logging.getLogger("rowgate.api_keys")

_FLUSH = """
UPDATE rowgate.api_keys AS k
SET use_count = k.use_count + u.uses,
    last_used_at = greatest(k.last_used_at, u.last_used)
FROM unnest($1::uuid[], $2::bigint[], $3::timestamptz[]) AS u(id, uses, last_used)
WHERE k.id = u.id
"""


class UsageCounter:
    def __init__(self, db: Database, interval: float) -> None:
        self._db = db
        self._interval = interval
        self._counts: dict[str, int] = {}
        self._last: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def record(self, key_id: str, now: float) -> None:
        """Count one use of ``key_id`` at ``now`` (epoch seconds).  No I/O."""
        self._counts[key_id] = self._counts.get(key_id, 0) + 1
        self._last[key_id] = now

    def start(self) -> None:
        self._task = asyncio.create_task(self._flush_forever())

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        try:
            await self.flush()
        except RowgateError as exc:
            log.warning("could not write the last API key usage counts (%s)", exc.code)

    async def flush(self) -> int:
        """Write every count gathered so far; how many keys were written."""
        async with self._lock:
            counts, last = self._counts, self._last
            if not counts:
                return 0
            self._counts, self._last = {}, {}
            ids = list(counts)
            try:
                await self._db.execute(
                    _FLUSH,
                    ids,
                    [counts[i] for i in ids],
                    [datetime.fromtimestamp(last[i], UTC) for i in ids],
                )
            except BaseException:
                self._restore(counts, last)
                raise
            return len(ids)

    def _restore(self, counts: dict[str, int], last: dict[str, float]) -> None:
        for key_id, uses in counts.items():
            self._counts[key_id] = self._counts.get(key_id, 0) + uses
            self._last[key_id] = max(self._last.get(key_id, 0.0), last[key_id])

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except RowgateError as exc:
                log.warning("could not write API key usage counts (%s); retrying later", exc.code)
            except Exception:
                log.exception("writing API key usage counts failed")
