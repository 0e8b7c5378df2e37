"""Test databases: each test gets a database of its own, copied from a template built once.

Applying rowgate's migrations (or loading a test world) takes far longer than ``CREATE DATABASE
... TEMPLATE``, a copy of the template's files; so what a test needs is built once into a template
database, and every test gets a copy, dropped afterwards.  A template's name holds a hash of what
goes into it (the migrations, the schema and seed files), so changing one builds a new template.
Templates are built under an advisory lock on the admin database, so test runs sharing the server
(from several checkouts at once) never race; a half-built template (a run killed while building)
is not marked as a template yet and is rebuilt.  Templates hold no role: roles belong to the whole
server, so what a test needs of them it creates in its own copy (the one exception is the data
world behind its second wall, ``tests/data/conftest.py``, whose grants name the data API's shared
default role ``rowgate_data``, which its build creates when missing).  The copies are made one test
ahead on a thread of their own (``Copier``), off the tests' path; after its test a copy is given
its template's rows again and handed to a later test under a new name when PostgreSQL's own
counters show that rows are all the test changed (``tests.recycle``), and dropped otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import threading
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from concurrent.futures import Future
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from tests import recycle

ADMIN_URL = os.environ.get("ROWGATE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

#: Arbitrary constant naming the lock under which templates are built ("rgtmpl").
TEMPLATE_LOCK = 0x7267746D706C

Build = Callable[[asyncpg.Connection], Awaitable[object]]
T = TypeVar("T")


def database_url(name: str) -> str:
    """``ADMIN_URL`` pointed at database ``name``."""
    parts = urlsplit(ADMIN_URL)
    return urlunsplit(parts._replace(path=f"/{name}"))


@dataclass(frozen=True)
class Template:
    """A template database: built by ``build`` on a copy of ``parent`` (or of an empty database),
    named after ``kind`` and a hash of the files ``sources`` (and of the parent's name)."""

    kind: str
    build: Build
    sources: tuple[Path, ...]
    parent: Template | None = None

    @property
    def name(self) -> str:
        digest = hashlib.sha256(self.parent.name.encode() if self.parent else b"")
        for path in sorted(self.sources):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        return f"rowgate_tmpl_{self.kind}_{digest.hexdigest()[:12]}"


class Lane:
    """One admin connection that runs one statement at a time (opened on first use)."""

    def __init__(self) -> None:
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()

    async def run(self, statement: str) -> None:
        await self.fetchval(statement)

    async def fetchval(self, statement: str, *args: object) -> Any:
        async with self._lock:
            if self._conn is None or self._conn.is_closed():
                self._conn = await asyncpg.connect(ADMIN_URL)
            return await self._conn.fetchval(statement, *args)

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()


class Dropper:
    """Drops used databases ``LANES`` at once.  PostgreSQL makes every ``DROP DATABASE`` wait
    for a checkpoint that starts after it was asked for, so one drop after another costs a checkpoint
    each (seconds apiece on a busy server: the drops fell behind the tests and a run waited minutes
    at its end for them); drops asked for together share one.  So used databases wait until there
    are ``LANES`` of them (or the run ends), even on a quiet server: one checkpoint for eight, and
    a database dropped before a checkpoint reaches it never has its pages written.  Lives on the
    copier's loop."""

    LANES = 8

    def __init__(self) -> None:
        self._lanes = [Lane() for _ in range(self.LANES)]
        self._pending: list[str] = []
        self._work: asyncio.Task[None] | None = None
        self._closing = False

    def drop(self, name: str) -> None:
        """Drop database ``name`` with the next full batch."""
        self._pending.append(name)
        if len(self._pending) >= self.LANES:
            self._drain_soon()

    def _drain_soon(self) -> None:
        if self._work is None or self._work.done():
            self._work = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while len(self._pending) >= self.LANES or (self._closing and self._pending):
            batch, self._pending = self._pending[: self.LANES], self._pending[self.LANES :]
            await asyncio.gather(
                *(
                    lane.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    for lane, name in zip(self._lanes, batch, strict=False)
                )
            )

    async def close(self) -> None:
        """Drop every database still waiting, then close the connections."""
        self._closing = True
        self._drain_soon()
        while self._work is not None and not self._work.done():
            await self._work
        for lane in self._lanes:
            await lane.close()


class Copier:
    """Makes the tests' databases on a thread of its own: the database the next test will need is
    copied while this one runs, and a used one is recycled (``tests.recycle``: given its template's
    rows again, under a new name) or dropped after its test (on other connections, so that neither
    delays a copy): none of it is on a test's path."""

    #: How long a used database's sessions may take to leave before it is dropped instead.
    LEAVE_WITHIN = 5.0
    #: How often a recycled database's rename may meet the recycler's own session still leaving.
    RENAME_TRIES = 50

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="test databases", daemon=True)
        self._thread.start()
        self._creates = Lane()
        self._renames = Lane()
        self._drops = Dropper()
        # The rest lives on the copier's loop.
        self._spare: dict[str | None, asyncio.Task[str]] = {}
        self._free: dict[str | None, list[str]] = {}
        self._pristine: dict[str | None, recycle.Pristine | None] = {}
        self._baselines: dict[str, recycle.Counters] = {}
        self._returns: set[asyncio.Task[None]] = set()
        #: How the used databases went: ``recycled`` or ``dropped``.
        self.outcomes: Counter[str] = Counter()

    async def take(self, template: str | None) -> str:
        """A database as new (empty, or holding what ``template`` holds); its name."""
        return await asyncio.wrap_future(self._submit(self._take(template)))

    def give_back(self, name: str, template: str | None) -> None:
        """Recycle or drop a database ``take`` gave for ``template`` (later, on the copier's thread)."""
        self._loop.call_soon_threadsafe(self._give_back, name, template)

    def close(self) -> None:
        """Drop the spare and recycled databases, wait for every drop, and stop the thread."""
        self._submit(self._close()).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def settle(self) -> None:
        """Wait until every database given back so far is recycled or dropped."""
        self._submit(self._settle()).result()

    def _submit(self, work: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(work, self._loop)

    async def _take(self, template: str | None) -> str:
        free = self._free.get(template)
        if free:
            return free.pop()
        spare = self._spare.pop(template, None)
        self._spare[template] = asyncio.ensure_future(self._create(template))
        return await (spare or self._create(template))

    async def _create(self, template: str | None) -> str:
        name = f"rgtest_{uuid.uuid4().hex[:16]}"
        copy = f' TEMPLATE "{template}"' if template else ""
        await self._creates.run(f'CREATE DATABASE "{name}"{copy}')
        if template not in self._pristine:  # the first copy: what every copy holds when new
            self._pristine[template] = None
            self._pristine[template] = await self._note_pristine(name)
        self._baselines[name] = {}
        return name

    async def _note_pristine(self, name: str) -> recycle.Pristine | None:
        conn = await asyncpg.connect(database_url(name))
        try:
            return await recycle.pristine(conn) if await recycle.supported(conn) else None
        finally:
            await conn.close()

    def _give_back(self, name: str, template: str | None) -> None:
        task = self._loop.create_task(self._recycle_or_drop(name, template))
        self._returns.add(task)
        task.add_done_callback(self._returns.discard)

    async def _recycle_or_drop(self, name: str, template: str | None) -> None:
        state, baseline = self._pristine.get(template), self._baselines.pop(name, None)
        renamed, counters = None, None
        if state is not None and baseline is not None and await self._left(name):
            try:
                counters = await recycle.recycle(database_url(name), state, baseline)
                if counters is not None:
                    renamed = await self._rename(name)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                renamed = None
        if renamed is None or counters is None:
            self.outcomes["dropped"] += 1
            self._drops.drop(name)
            return
        self.outcomes["recycled"] += 1
        self._baselines[renamed] = counters
        self._free.setdefault(template, []).append(renamed)

    async def _left(self, name: str) -> bool:
        """Wait until no session is left on database ``name``: whether they all left in time."""
        deadline = self._loop.time() + self.LEAVE_WITHIN
        while await self._renames.fetchval(recycle.SESSIONS, name):
            if self._loop.time() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def _rename(self, name: str) -> str | None:
        """Give database ``name`` a new name (so that nothing reaches it by the old one); the new
        name, or ``None`` if its sessions do not leave."""
        renamed = f"rgtest_{uuid.uuid4().hex[:16]}"
        for _ in range(self.RENAME_TRIES):
            try:
                await self._renames.run(f'ALTER DATABASE "{name}" RENAME TO "{renamed}"')
                return renamed
            except asyncpg.ObjectInUseError:  # the recycler's own session, still on its way out
                await asyncio.sleep(0.01)
        return None

    async def _settle(self) -> None:
        while self._returns:
            await asyncio.gather(*self._returns)

    async def _close(self) -> None:
        await self._settle()
        for spare in self._spare.values():
            with contextlib.suppress(Exception):
                self._drops.drop(await spare)
        for names in self._free.values():
            for name in names:
                self._drops.drop(name)
        await self._creates.close()
        await self._renames.close()
        await self._drops.close()


_copier: Copier | None = None


def copier() -> Copier:
    """The copier of this test run (started on first use; ``close_copier`` ends it)."""
    global _copier
    if _copier is None:
        _copier = Copier()
    return _copier


def close_copier() -> None:
    global _copier
    if _copier is not None:
        _copier.close()
        _copier = None


@asynccontextmanager
async def new_database(template: str | None = None) -> AsyncIterator[str]:
    """A database of its own (empty, or holding what ``template`` holds); its URL.  Recycled or
    dropped afterwards."""
    name = await copier().take(template)
    try:
        yield database_url(name)
    finally:
        copier().give_back(name, template)


_ready: set[str] = set()


def prepare(template: Template) -> str:
    """Make sure ``template`` exists on the server (building it if not); its name.  Runs on an event
    loop of its own, so that session fixtures may call it whatever loop the tests use."""
    if template.name not in _ready:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(_prepare(template))
        finally:
            loop.close()
    return template.name


async def _prepare(template: Template) -> None:
    if template.parent:
        await _prepare(template.parent)
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", TEMPLATE_LOCK)
        try:
            await _build_unless_ready(conn, template)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", TEMPLATE_LOCK)
    finally:
        await conn.close()
    _ready.add(template.name)


async def _build_unless_ready(conn: asyncpg.Connection, template: Template) -> None:
    name = template.name
    ready = await conn.fetchval("SELECT datistemplate FROM pg_database WHERE datname = $1", name)
    if ready:
        return
    if ready is not None:  # left half-built by a run that stopped
        await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    copy = f' TEMPLATE "{template.parent.name}"' if template.parent else ""
    await conn.execute(f'CREATE DATABASE "{name}"{copy}')
    built = await asyncpg.connect(database_url(name))
    try:
        await template.build(built)
    finally:
        await built.close()
    await conn.execute(f'ALTER DATABASE "{name}" WITH IS_TEMPLATE true')
