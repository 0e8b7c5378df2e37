"""Test databases: each test gets a database of its own, copied from a template built once.

Applying rowgate's migrations (or loading a test world) takes far longer than ``CREATE DATABASE
... TEMPLATE``, a copy of the template's files; so what a test needs is built once into a template
database, and every test gets a copy, dropped afterwards.  A template's name holds a hash of what
goes into it (the migrations, the schema and seed files), so changing one builds a new template.
Templates are built under an advisory lock on the admin database, so test runs sharing the server
(from several checkouts at once) never race; a half-built template (a run killed while building)
is not marked as a template yet and is rebuilt.  Templates hold no role: roles belong to the whole
server, so what a test needs of them it creates in its own copy.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

ADMIN_URL = os.environ.get("ROWGATE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

#: Arbitrary constant naming the lock under which templates are built ("rgtmpl").
TEMPLATE_LOCK = 0x7267746D706C

Build = Callable[[asyncpg.Connection], Awaitable[object]]


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


async def admin(*statements: str) -> None:
    """Run statements on the admin database (one connection, in order)."""
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@asynccontextmanager
async def new_database(template: str | None = None) -> AsyncIterator[str]:
    """A database of its own (empty, or a copy of ``template``); its URL.  Dropped afterwards."""
    name = f"rgtest_{uuid.uuid4().hex[:16]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    await admin(f'CREATE DATABASE "{name}"{copy}')
    try:
        yield database_url(name)
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
