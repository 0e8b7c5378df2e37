"""Redis ephemeral store (``redis.asyncio``): shared by every rowgate instance.

Two things keep a restarted or flushed Redis from turning into stale answers:

* A pooled connection that fails (the server restarted under it) is dropped and the command is
  retried on a fresh one, so no request sees the error of a connection that was already dead.
* A *generation marker*: a random value under the key ``generation``, written when it is missing.
  A restarted or flushed server no longer holds it (nor does one that evicted it), so the store
  notices, at its next check (every ``state_check_interval``), that its state was lost, and calls
  every subscriber with ``None``: "re-read what you cache from the database".  Subscribers whose
  re-read fails are called again at the next check.  (A restart also drops the subscriptions,
  whose reconnection calls their subscriber with ``None`` too.)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from rowgate.auth.store.base import Handler, Throttle
from rowgate.auth.tasks import cancel_and_wait
from rowgate.errors import ServiceUnavailable

log = logging.getLogger("rowgate.store")

#: Connections to Redis per instance; requests beyond wait for one to be free.
MAX_CONNECTIONS = 64


def _client_info() -> dict[str, Any]:
    """What every connection tells the server about its client library (``CLIENT SETINFO``),
    worked out once: redis-py otherwise looks its own version up among the installed packages
    for every new connection, milliseconds each.  ``driver_info`` where redis-py has it (passing
    ``lib_version`` there is deprecated), ``lib_version`` before."""
    try:
        from redis.driver_info import DriverInfo
    except ImportError:  # a redis-py without driver_info
        from importlib.metadata import version

        return {"lib_version": version("redis")}
    return {"driver_info": DriverInfo()}


CLIENT_INFO = _client_info()

# INCR and set the expiry only when the key is new, in one round trip.
_INCR = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"""

# ``auth.store.base.gcra`` on Redis's own clock (so that every instance agrees), in microseconds,
# for a batch of requests at once (one command, one round trip): KEYS[i] the i-th request's bucket,
# ARGV[2i-1] its interval between requests, ARGV[2i] its window.  Answers {allowed, remaining,
# wait in microseconds} for each, in order (a bucket named twice is taken from twice, in turn);
# a bucket's time is kept until it is full again.
_THROTTLE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local out = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local window = tonumber(ARGV[2 * i])
  local stored = redis.call('GET', key)
  local tat = now
  if stored then tat = math.max(tonumber(stored), now) end
  local allow_at = tat + interval - window
  if now < allow_at then
    out[#out + 1] = 0
    out[#out + 1] = 0
    out[#out + 1] = math.ceil(allow_at - now)
  else
    local new_tat = tat + interval
    redis.call('SET', key, string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
    local remaining = math.floor((now - allow_at) / interval + 1e-9)
    out[#out + 1] = 1
    out[#out + 1] = remaining
    out[#out + 1] = math.ceil(allow_at + (remaining + 1) * interval - now)
  end
end
return out
"""


#: A throttle waiting for its batch: the bucket's key, the script's arguments, the waiter.
_Pending = tuple[str, tuple[str, str], "asyncio.Future[list[int]]"]


@functools.lru_cache(maxsize=256)
def _throttle_args(limit: int, window: float) -> tuple[str, str]:
    """The script's arguments for one bucket size (a handful of sizes: written once each)."""
    micros = window * 1_000_000
    return f"{micros / limit:.3f}", f"{micros:.0f}"


_AWAY = "The shared store (Redis) is not reachable; try again shortly."

#: The key of the generation marker (under the prefix).
GENERATION = "generation"

# The marker's value, written first when it is missing, in one round trip.
_GENERATION = """
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
"""


@contextlib.asynccontextmanager
async def _translated() -> AsyncIterator[None]:
    try:
        yield
    except (RedisError, OSError) as exc:
        log.warning("redis unavailable: %s", type(exc).__name__)
        raise ServiceUnavailable(_AWAY) from exc


class RedisStore:
    """Store on a Redis server; keys carry ``prefix`` so several deployments can share one server."""

    shared = True

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._incr = client.register_script(_INCR)
        self._throttle = client.register_script(_THROTTLE)
        self._throttles: list[_Pending] = []
        self._marker = client.register_script(_GENERATION)
        self._generation: str | None = None
        self._handlers: list[Handler] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    async def connect(cls, url: str, prefix: str, *, state_check_interval: float = 2.0) -> RedisStore:
        # A blocking pool: a burst of concurrent requests waits for a free connection (up to
        # ``timeout``) instead of failing at once when all of them are in use.  A connection error
        # drops that connection and retries on a new one (a restarted server leaves every pooled
        # connection dead; without the retry each would fail one request).
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=5,
            socket_timeout=5,
            health_check_interval=30,
            max_connections=MAX_CONNECTIONS,
            timeout=5,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2, (RedisConnectionError,)),
            **CLIENT_INFO,
        )
        client = aioredis.Redis.from_pool(pool)
        store = cls(client, prefix)
        try:
            await store.ping()
            await store.state_lost()
        except ServiceUnavailable:
            await client.aclose()
            raise
        store._spawn(store._watch(state_check_interval))
        return store

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def state_lost(self) -> bool:
        """True when the server lost its state (restart, flush) since the last call: the
        generation marker is gone (then it is written again) or another instance wrote a new one."""
        async with _translated():
            current = str(await self._marker(keys=[self._k(GENERATION)], args=[secrets.token_hex(16)]))
        lost = self._generation is not None and current != self._generation
        self._generation = current
        if lost:
            log.warning("the shared store (Redis) lost its state; caches are re-read from the database")
        return lost

    async def _watch(self, interval: float) -> None:
        """Check the marker every ``interval``; when it changed, call every subscriber with ``None``
        (those that fail are called again at the next check)."""
        owed: list[Handler] = []
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(ServiceUnavailable):  # the subscriptions reconnect by themselves
                if await self.state_lost():
                    owed = list(self._handlers)
            owed = [handler for handler in owed if not await _called(handler)]

    def _k(self, key: str) -> str:
        return self._prefix + key

    async def incr(self, key: str, ttl: float) -> int:
        async with _translated():
            return int(await self._incr(keys=[self._k(key)], args=[max(1, int(ttl * 1000))]))

    async def throttle(self, key: str, limit: int, window: float) -> Throttle:
        # The requests of one event-loop turn go to Redis together, as one script call: one round
        # trip, one command for every caller waiting at that moment (redis-py's per-command cost
        # in this process is what a busy instance would otherwise pay for each request).
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[list[int]] = loop.create_future()
        if not self._throttles:
            loop.call_soon(self._send_throttles)
        self._throttles.append((self._k(key), _throttle_args(limit, window), waiter))
        allowed, remaining, wait = await waiter
        return Throttle(bool(allowed), int(remaining), int(wait) / 1_000_000)

    def _send_throttles(self) -> None:
        batch, self._throttles = self._throttles, []
        task = asyncio.create_task(self._run_throttles(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_throttles(self, batch: list[_Pending]) -> None:
        try:
            results = await self._eval_throttles(batch)
        except BaseException as error:  # every waiter hears of it, whatever it was
            failure = error if isinstance(error, ServiceUnavailable) else ServiceUnavailable(_AWAY)
            for *_, waiter in batch:
                if not waiter.done():
                    waiter.set_exception(failure)
            if not isinstance(error, Exception):
                raise
            return
        for (*_, waiter), result in zip(batch, results, strict=True):
            if not waiter.done():
                waiter.set_result(result)

    async def _eval_throttles(self, batch: list[_Pending]) -> list[Any]:
        keys: list[str] = []
        args: list[str] = []
        for key, arguments, _ in batch:
            keys.append(key)
            args += arguments
        async with _translated():
            flat = await self._throttle(keys=keys, args=args)
        return [flat[i : i + 3] for i in range(0, len(flat), 3)]

    async def get(self, key: str) -> str | None:
        async with _translated():
            value = await self._client.get(self._k(key))
        return None if value is None else str(value)

    async def set(
        self, key: str, value: str, ttl: float | None = None, *, only_if_absent: bool = False
    ) -> bool:
        px = None if ttl is None else max(1, int(ttl * 1000))
        async with _translated():
            return bool(await self._client.set(self._k(key), value, px=px, nx=only_if_absent))

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        async with _translated():
            return int(await self._client.delete(*(self._k(k) for k in keys)))

    async def ttl(self, key: str) -> float | None:
        async with _translated():
            ms = int(await self._client.pttl(self._k(key)))
        return None if ms < 0 else ms / 1000

    async def publish(self, channel: str, message: str) -> None:
        async with _translated():
            await self._client.publish(self._k(channel), message)

    async def subscribe(self, channel: str, handler: Handler) -> None:
        ready = asyncio.Event()
        self._handlers.append(handler)
        self._spawn(self._listen(self._k(channel), handler, ready))
        await ready.wait()

    async def _listen(self, channel: str, handler: Handler, ready: asyncio.Event) -> None:
        """Deliver messages; after every (re)connection tell the handler to re-read (``None``)."""
        delay = 0.1
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(channel)
                await handler(None)
                ready.set()
                delay = 0.1
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        await handler(str(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep listening whatever a handler or the connection did
                log.warning("subscription to %s interrupted (%s); reconnecting", channel, type(exc).__name__)
                ready.set()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]  # typed since redis 8.2

    async def ping(self) -> None:
        async with _translated():
            await self._client.ping()

    async def close(self) -> None:
        await cancel_and_wait(*self._tasks)
        await self._client.aclose()


async def _called(handler: Handler) -> bool:
    """Call ``handler`` with ``None``; False (logged) when it failed."""
    try:
        await handler(None)
    except Exception as exc:  # retried at the next check, whatever went wrong
        log.warning("re-reading after the store lost its state failed (%s); retrying", type(exc).__name__)
        return False
    return True
