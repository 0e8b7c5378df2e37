"""The PostgreSQL edge: one asyncpg pool, and database errors translated at the boundary.

Every module that talks to PostgreSQL takes a ``Database`` and runs its SQL inside
``db.connection()`` or ``db.transaction()``.  Those translate a lost or refused
connection into ``ServiceUnavailable`` (503), so a restarted database is a short
outage for clients, never a 500, and the pool reconnects by itself.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg

from config.errors import GatewayTimeout, ServiceUnavailable
from config.schema import DatabaseSettings

log = logging.getLogger("rowgate.db")

#: asyncpg/OS errors that mean "the database is not there right now".
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ConnectionError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.ConnectionFailureError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.InterfaceError,
)


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
    """Turn connection loss and timeouts into rowgate errors (503/504); let the rest through."""
    try:
        yield
    except asyncpg.exceptions.QueryCanceledError as exc:
        raise GatewayTimeout("The database did not answer in time; try again.") from exc
    except TimeoutError as exc:
        raise ServiceUnavailable("The database is not reachable; try again shortly.") from exc
    except CONNECTION_ERRORS as exc:
        log.warning("database unavailable: %s", type(exc).__name__)
        raise ServiceUnavailable("The database is not reachable; try again shortly.") from exc


@dataclass
class Database:
    """An asyncpg pool with error translation."""

    pool: asyncpg.Pool
    url: str

    @classmethod
    async def connect(cls, url: str, settings: DatabaseSettings) -> Database:
        """Open the pool; fails with ServiceUnavailable when the server cannot be reached."""
        with translated_errors():
            pool = await asyncpg.create_pool(
                url,
                min_size=settings.pool_min_size,
                max_size=settings.pool_max_size,
                timeout=settings.connect_timeout.total_seconds(),
                server_settings={"application_name": "rowgate"},
            )
        return cls(pool=pool, url=url)

    async def close(self) -> None:
        await self.pool.close()

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection, errors translated."""
        with translated_errors():
            async with self.pool.acquire() as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection inside one transaction, errors translated."""
        with translated_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                yield conn

    async def fetchval(self, query: str, *args: Any) -> Any:
        async with self.connection() as conn:
            return await conn.fetchval(query, *args)

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        async with self.connection() as conn:
            return await conn.fetchrow(query, *args)

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        async with self.connection() as conn:
            return list(await conn.fetch(query, *args))

    async def execute(self, query: str, *args: Any) -> str:
        async with self.connection() as conn:
            return str(await conn.execute(query, *args))

    async def ping(self) -> None:
        """Raise ServiceUnavailable unless the database answers a trivial query."""
        async with self.connection() as conn:
            await conn.fetchval("SELECT 1", timeout=2)
