"""Which networks each API key is used from: a first sighting becomes an audit event, off the request path.

``saw`` costs a set lookup on the request; a pair (key, network) new to this instance is kept in
memory and written by a background task every ``interval`` as ``apikey.network`` events (one
batch statement).  Each instance writes a pair at most once per process life (the set is bounded:
the oldest pairs are forgotten), and the ``api_key_network`` rule ignores pairs already in the trail,
so restarts and several instances do not raise an alert twice.  Networks are /24 (IPv4) and /48 (IPv6).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections import OrderedDict

from rowgate.auth.db import Database
from rowgate.auth.tasks import cancel_and_wait
from rowgate.errors import RowgateError

log = logging.getLogger("rowgate.alerts")
EVENT = "apikey.network"

_INSERT = """
INSERT INTO rowgate.audit_events (event, org_id, ip, details)
SELECT $1, o, i, jsonb_build_object('keyId', k, 'network', n)
FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[]) AS s(o, i, k, n)
"""


def network_of(ip: str) -> str | None:
    """The /24 or /48 around ``ip``; None for something that is not an address."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


class KeySightings:
    def __init__(self, db: Database, interval: float, capacity: int = 100_000) -> None:
        self._db = db
        self._interval = interval
        self._capacity = capacity
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._pending: list[tuple[str | None, str, str, str]] = []
        self._task: asyncio.Task[None] | None = None

    def saw(self, key_id: str, org_id: str | None, ip: str) -> None:
        """Note a use of ``key_id`` from ``ip``.  No I/O."""
        network = network_of(ip)
        if network is None or (key_id, network) in self._seen:
            return
        self._seen[(key_id, network)] = None
        if len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        self._pending.append((org_id, ip, key_id, network))

    def start(self) -> None:
        self._task = asyncio.create_task(self._flush_forever(), name="rowgate-key-sightings")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        try:
            await self.flush()
        except RowgateError as exc:
            log.warning("could not write the last API key sightings (%s)", exc.code)

    async def flush(self) -> int:
        """Write the sightings gathered so far; how many."""
        pending, self._pending = self._pending, []
        if not pending:
            return 0
        columns = [list(column) for column in zip(*pending, strict=True)]
        try:
            await self._db.execute(_INSERT, EVENT, *columns)
        except BaseException:
            self._pending = pending + self._pending
            raise
        return len(pending)

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except RowgateError as exc:
                log.warning("could not write API key sightings (%s); retrying", exc.code)
