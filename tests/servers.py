"""Private Redis and PostgreSQL servers that a test may stop, start and flush.

Fault tests never touch the shared servers: each starts its own on a free port (Redis) or a socket
in a temporary folder (PostgreSQL, from the ``pgserver`` package's binaries), and stops it at the
end.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    """A redis-server process on one port that the test stops, starts and flushes."""

    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        for _ in range(500):
            if self.process.poll() is not None:  # exited: the port was taken meanwhile
                break
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.02)
        raise RuntimeError(f"the private redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def flush(self) -> None:
        """FLUSHALL: the server keeps running and forgets everything."""
        client = redis.Redis.from_url(self.url)
        try:
            client.flushall()
        finally:
            client.close()


class PrivatePostgres:
    """A PostgreSQL server of its own (``pgserver``) that the test stops and starts.

    Its data folder is a fresh temporary folder outside pytest's ``tmp_path`` (pytest removes old
    runs' folders, which another test run on the same machine may do while this server runs)."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="rowgate-pg-")) / "data"
        self.server: Any = None

    @property
    def url(self) -> str:
        return str(self.server.get_uri())

    async def open(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pgserver import get_server  # type: ignore[attr-defined]

            self.server = await asyncio.to_thread(get_server, self.folder, cleanup_mode="delete")

    async def stop(self) -> None:
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

        await asyncio.to_thread(
            pg_ctl,
            ["-w", "stop", "-m", "fast"],
            pgdata=self.server.pgdata,
            user=self.server.system_user,
            timeout=30,
        )

    async def start(self) -> None:
        await asyncio.to_thread(self.server.ensure_postgres_running)

    async def close(self) -> None:
        if self.server is not None:
            await asyncio.to_thread(self.server.cleanup)
        shutil.rmtree(self.folder.parent, ignore_errors=True)

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.url)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()
