"""``rowgate doctor``: everything a running rowgate depends on, checked from here, one line each.

The configuration (``proxy.preflight``, what ``serve`` checks before it starts); the database:
reachable, migrated, the tables and columns the policies name, the data role and its native
policies (``rls.wall.inspect``, read only: the doctor changes nothing), and its clock; Redis; the
master key; mail; the upstream app; the public URL.  Each check is a ``Finding``: ok or a problem
with what to do about it.  The database is the configured one or the embedded one running in
``data_dir``; the doctor never starts one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
import asyncpg

from rowgate.auth.crypto import environment_master_key
from rowgate.auth.migrate import bundled_migrations
from rowgate.config.schema import Settings
from rowgate.errors import ConfigError
from rowgate.proxy.policy_database import choose_database
from rowgate.proxy.preflight import preflight
from rowgate.rls.introspect import introspect
from rowgate.rls.policy import PolicySet
from rowgate.rls.schema import Schema, missing_tables, schema_problems
from rowgate.rls.wall import inspect, plan_for

#: How long the doctor waits for any one service.
TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok' if self.ok else 'PROBLEM':7} {self.check}: {self.detail}"


def ok(check: str, detail: str) -> Finding:
    return Finding(check, True, detail)


def problem(check: str, detail: str) -> Finding:
    return Finding(check, False, detail)


def redact(url: str) -> str:
    """``url`` without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()


async def examine(settings: Settings) -> list[Finding]:
    """Every check, in the order they are printed."""
    policies, configuration = _configuration(settings)
    findings = [*configuration, _master_key(settings), _public_url(settings)]
    findings += await _database(settings, policies)
    findings.append(await _redis(settings))
    findings.append(await _mail(settings))
    findings.append(await _upstream(settings))
    return findings


def _configuration(settings: Settings) -> tuple[PolicySet | None, list[Finding]]:
    """The policies (``None``: none, or the configuration has problems) and the findings."""
    try:
        policies = preflight(settings)
    except ConfigError as error:
        return None, [problem("configuration", p) for p in error.problems]
    tables = "no data API (policies: null)" if policies is None else f"{len(policies.tables)} policy table(s)"
    return policies, [ok("configuration", f"valid (mode {settings.mode}, {tables})")]


def _master_key(settings: Settings) -> Finding:
    try:
        key = environment_master_key(settings)
    except ConfigError as error:
        return problem("master key", "; ".join(error.problems))
    if key is not None:
        return ok("master key", "from the environment")
    if settings.mode == "production":
        return problem("master key", "not set: set ROWGATE_MASTER_KEY (or ROWGATE_MASTER_KEY_FILE)")
    path = settings.data_dir / "master.key"
    there = "in" if path.exists() else "generated at the first start in"
    return ok("master key", f"{there} {path} (mode dev; production needs ROWGATE_MASTER_KEY)")


def _public_url(settings: Settings) -> Finding:
    url = settings.server.public_url
    production = settings.mode == "production"
    if url is None:
        detail = f"not set: links in mails and the token issuer use {settings.public_url}"
        if production:
            return problem("public URL", f"{detail}; set server.public_url to the https address clients use")
        return ok("public URL", detail)
    parts = urlsplit(url)
    if not parts.hostname:
        return problem(
            "public URL", f"{url} has no host: set server.public_url like https://auth.example.com"
        )
    if production and parts.scheme != "https":
        return problem("public URL", f"{url} is not https: in production clients must reach rowgate over TLS")
    return ok("public URL", url)


async def _database(settings: Settings, policies: PolicySet | None) -> list[Finding]:
    choice = choose_database(settings, None)
    if choice.url is None:  # no database.url, and the embedded one is not running
        folder = settings.data_dir / "postgres"
        return [
            ok(
                "database",
                f"embedded PostgreSQL in {folder}, not running now: its checks need `rowgate demo` or "
                "`rowgate serve` running in this folder (or set database.url)",
            )
        ]
    try:
        conn = await asyncpg.connect(choice.url, timeout=TIMEOUT)
    except (TimeoutError, OSError, asyncpg.PostgresError) as error:
        return [
            problem(
                "database",
                f"cannot connect to {redact(choice.url)} ({_reason(error)}): check database.url "
                "(or ROWGATE_DATABASE_URL) and that PostgreSQL runs there",
            )
        ]
    try:
        findings = [ok("database", f"reachable: {redact(choice.url)} ({choice.source})")]
        findings.append(await _migrations(conn))
        findings.append(await _clock(conn, settings))
        if policies is not None:
            findings += await _tables(conn, settings, policies)
        return findings
    finally:
        await conn.close()


async def _migrations(conn: asyncpg.Connection) -> Finding:
    try:
        applied = {r["version"] for r in await conn.fetch("SELECT version FROM rowgate.schema_migrations")}
    except asyncpg.UndefinedTableError:
        applied = set()
    pending = [f"{m.version:04d}_{m.name}" for m in bundled_migrations() if m.version not in applied]
    if pending:
        return problem(
            "migrations",
            f"{len(pending)} not applied ({', '.join(pending[:3])}{' ...' * (len(pending) > 3)}): "
            "run `rowgate migrate` (serve also applies them at start)",
        )
    return ok("migrations", f"all {len(applied)} applied")


async def _clock(conn: asyncpg.Connection, settings: Settings) -> Finding:
    before = time.time()
    server = float(await conn.fetchval("SELECT extract(epoch FROM clock_timestamp())"))
    skew = server - (before + time.time()) / 2
    leeway = settings.tokens.leeway.total_seconds()
    if abs(skew) > leeway / 2:
        return problem(
            "clock",
            f"this machine's clock is {skew:+.1f} s from the database server's (tokens allow "
            f"{leeway:.0f} s of leeway): synchronise both with NTP",
        )
    return ok("clock", f"{skew:+.2f} s from the database server's")


async def _tables(conn: asyncpg.Connection, settings: Settings, policies: PolicySet) -> list[Finding]:
    schema = await introspect(conn, settings.data.schemas)
    missing = missing_tables(policies, schema)
    findings = []
    if missing:
        findings.append(
            problem(
                "tables",
                f"the policies name tables the database does not have: {', '.join(missing)}: create them "
                "(your app's migrations) or remove their policies",
            )
        )
    for line in schema_problems(policies, schema):
        findings.append(problem("tables", f"{line}: add the columns or change the rules"))
    if not findings:
        findings.append(
            ok("tables", f"all {len(policies.tables)} table(s) of the policies, with their columns")
        )
    findings.append(await _second_wall(conn, settings, policies, schema))
    return findings


async def _second_wall(
    conn: asyncpg.Connection, settings: Settings, policies: PolicySet, schema: Schema
) -> Finding:
    role = settings.data.role
    if role is None:
        return ok("second wall", "off (data.role: null): data API statements run as rowgate's login")
    data = settings.data
    wall = await plan_for(conn, policies, schema, role=role, schemas=data.schemas, native=data.native_rls)
    found = await inspect(conn, wall)
    if not found.up:
        return problem(
            "second wall",
            f"{'; '.join(found.problems)}: run `rowgate migrate`, or, where rowgate's login may not, "
            "the SQL of `rowgate policy export --sql` as a superuser",
        )
    return ok("second wall", f"up: statements run as {role}")


async def _redis(settings: Settings) -> Finding:
    url = settings.redis.url
    if not url:
        return ok("redis", "not configured: an in-process store (one instance only)")
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError

    client = aioredis.from_url(url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT)
    try:
        await client.ping()
    except (RedisError, OSError, ValueError) as error:
        return problem(
            "redis",
            f"cannot reach {redact(url)} ({_reason(error)}): check redis.url (or ROWGATE_REDIS_URL) "
            "and that Redis runs there",
        )
    finally:
        await client.aclose()
    return ok("redis", f"reachable: {redact(url)}")


async def _mail(settings: Settings) -> Finding:
    if settings.mail.backend != "smtp":
        return ok(
            "mail", f"backend {settings.mail.backend}: written to {settings.data_dir / 'mail'}, not sent"
        )
    smtp = settings.mail.smtp
    return await _reach(
        "mail",
        lambda: asyncio.open_connection(smtp.host, smtp.port),
        f"SMTP {smtp.host}:{smtp.port}",
        "check mail.smtp.host and port, and that the server accepts connections from here",
    )


async def _upstream(settings: Settings) -> Finding:
    url = settings.upstream.url
    if not url:
        return ok("upstream", "none: rowgate serves only its own endpoints")

    async def get() -> None:
        timeout = aiohttp.ClientTimeout(total=TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as http, http.get(url, allow_redirects=False):
            pass  # any answer, whatever its status, says the app is there

    return await _reach("upstream", get, url, "start the app, or check upstream.url (or --upstream)")


async def _reach(check: str, attempt: Callable[[], Awaitable[object]], what: str, fix: str) -> Finding:
    try:
        answer = await asyncio.wait_for(attempt(), TIMEOUT)
    except (TimeoutError, OSError, aiohttp.ClientError) as error:
        return problem(check, f"cannot reach {what} ({_reason(error)}): {fix}")
    if isinstance(answer, tuple):  # a stream pair: close the connection again
        answer[1].close()
    return ok(check, f"reachable: {what}")


def _reason(error: BaseException) -> str:
    if isinstance(error, asyncio.TimeoutError):
        return f"no answer in {TIMEOUT:.0f} s"
    return str(error) or type(error).__name__
