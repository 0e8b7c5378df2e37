"""The ``rowgate`` command: serve, demo, migrate, check-config, doctor, keys, policy.

Configuration comes from ``--config`` (or ``ROWGATE_CONFIG``, else the bundled default); the
environment (``config.loader.ENV_OVERRIDES``: ``ROWGATE_DATABASE_URL``, ``ROWGATE_WORKERS``, ...,
and ``ROWGATE_MASTER_KEY``) wins over the file, and flags win over both.  Bad configuration exits
with code 2 and one screen that names every file and key at fault.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from collections.abc import Callable, Coroutine, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from aiohttp import web

from rowgate.auth.embedded import stop_embedded
from rowgate.config import Settings, load_settings
from rowgate.errors import ConfigError, RowgateError
from rowgate.proxy.logs import configure_logging

EXIT_CONFIG = 2


def _version() -> str:
    try:
        return version("rowgate")
    except PackageNotFoundError:
        return "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rowgate",
        description="Auth sidecar: identity, sessions, API keys, tenants and row-level security.",
    )
    parser.add_argument("--version", action="version", version=f"rowgate {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run rowgate in front of an upstream app")
    _config_flag(serve)
    serve.add_argument("--host", help="address to listen on (server.host)")
    serve.add_argument("--port", type=int, help="port to listen on (server.port)")
    serve.add_argument("--upstream", metavar="URL", help="the app to protect (upstream.url)")
    serve.add_argument("--policies", metavar="PATH", help="row-level security policy file (policies)")
    serve.add_argument(
        "--workers", type=int, metavar="N", help="worker processes (server.workers; default one per CPU)"
    )

    demo = commands.add_parser("demo", help="run rowgate with the demo app behind it (the quick start)")
    _config_flag(demo)
    demo.add_argument("--port", type=int, default=8080, help="port for rowgate (default 8080)")
    demo.add_argument("--app-port", type=int, default=8081, help="port for the demo app (default 8081)")

    migrate = commands.add_parser(
        "migrate", help="apply database migrations, put up the data API's second wall, and exit"
    )
    _config_flag(migrate)

    check = commands.add_parser("check-config", help="validate the configuration without starting")
    _config_flag(check)

    doctor = commands.add_parser(
        "doctor",
        help="check the configuration and everything rowgate needs (database, Redis, mail, upstream, ...)",
    )
    _config_flag(doctor)
    doctor.add_argument("--upstream", metavar="URL", help="the app to check (upstream.url)")
    doctor.add_argument("--policies", metavar="PATH", help="row-level security policy file (policies)")

    from rowgate.proxy.keys_cli import add_key_commands

    add_key_commands(commands)
    from rowgate.proxy.data.policy_cli import add_policy_commands

    add_policy_commands(commands)
    return parser


def _config_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", metavar="PATH", help="settings file (default: $ROWGATE_CONFIG or the bundled one)"
    )


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    flags = {
        "server.host": getattr(args, "host", None),
        "server.port": getattr(args, "port", None),
        "upstream.url": getattr(args, "upstream", None),
        "policies": getattr(args, "policies", None),
        "server.workers": getattr(args, "workers", None),
    }
    return {key: value for key, value in flags.items() if value is not None}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "serve": cmd_serve,
        "demo": cmd_demo,
        "migrate": cmd_migrate,
        "check-config": cmd_check_config,
        "doctor": cmd_doctor,
        "keys": cmd_keys,
        "policy": cmd_policy,
    }
    try:
        return handlers[args.command](args)
    except ConfigError as exc:
        print("rowgate: the configuration has problems:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_CONFIG
    except RowgateError as exc:
        print(f"rowgate: {exc.detail}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        stop_embedded()


def cmd_policy(args: argparse.Namespace) -> int:
    """``rowgate policy check|explain|test|export``: the policy tools, with a database for the
    tables' columns and custom roles (``--database-url``, else ``proxy.policy_database`` chooses
    one), and the configured roles for ``explain --role``."""
    from rowgate.proxy.data.policy_cli import run_policy_command
    from rowgate.proxy.policy_database import choose_database
    from rowgate.proxy.roles import role_lookup

    overrides = {"policies": args.policies} if args.policies else {}
    settings = load_settings(args.config, overrides=overrides)
    if not args.policies and settings.policies is not None:
        args.policies = str(settings.policies)
    database = choose_database(settings, getattr(args, "database_url", None))
    return run_policy_command(args, database, role_lookup(settings, database.url))


def cmd_check_config(args: argparse.Namespace) -> int:
    """Everything ``serve`` checks before it starts (``proxy.preflight``), without starting."""
    from rowgate.proxy.preflight import preflight

    settings = load_settings(args.config, overrides=_overrides(args))
    policies = preflight(settings)
    print(f"configuration is valid (mode {settings.mode}, listening on {settings.public_url})")
    if policies is None:
        print("policies: null: no data API")
    else:
        print(f"policies: {policies.source}, {len(policies.tables)} table(s)")
    print("the database was not contacted: `rowgate policy check` compares the policies with it")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check what rowgate depends on (``proxy.doctor``), one line each; 1 when anything is wrong."""
    from rowgate.proxy.doctor import examine

    settings = load_settings(args.config, overrides=_overrides(args))
    findings = asyncio.run(examine(settings))
    for finding in findings:
        print(finding.line())
    problems = sum(not finding.ok for finding in findings)
    print(f"{problems} problem(s)" if problems else "everything rowgate needs is in place")
    return 1 if problems else 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply rowgate's migrations, then put up the data API's second wall for the policy file."""
    settings = load_settings(args.config, overrides=_overrides(args))
    configure_logging(settings.logging)

    async def run() -> int:
        from rowgate.auth.db import Database
        from rowgate.auth.migrate import migrate
        from rowgate.proxy.data.policy import load_data_policy
        from rowgate.proxy.services import database_url

        db = await Database.connect(await database_url(settings), settings.database)
        try:
            async with db.connection() as conn:
                done = await migrate(conn, progress=print)
                print(f"database is up to date ({len(done)} migration(s) applied)")
                policy = await load_data_policy(settings.policies, conn, settings.data)
        finally:
            await db.close()
        if policy.wall_down:
            print(f"the second wall is NOT up: {policy.wall_down}", file=sys.stderr)
            return 1
        if policy.role:
            print(f"second wall up: data API statements run as {policy.role} ({len(policy.tables)} table(s))")
        return 0

    return asyncio.run(run())


def cmd_keys(args: argparse.Namespace) -> int:
    """``rowgate keys list|rotate|retire`` (``proxy.keys_cli``)."""
    from rowgate.proxy.keys_cli import run_key_command

    settings = load_settings(args.config, overrides=_overrides(args))
    configure_logging(settings.logging)
    return run_key_command(args, settings)


def cmd_serve(args: argparse.Namespace) -> int:
    from rowgate.proxy.preflight import preflight
    from rowgate.proxy.server import check_port
    from rowgate.proxy.workers import worker_count

    settings = load_settings(args.config, overrides=_overrides(args))
    preflight(settings)  # the checks check-config makes: a mistake exits 2 before anything starts
    check_port(settings.server.host, settings.server.port, flag="--port")  # busy: one sentence, at once
    configure_logging(settings.logging)
    count = worker_count(settings)
    if count > 1:
        return _serve_workers(settings, count)
    _run(_serve(settings))
    return 0


def _serve_workers(settings: Settings, count: int) -> int:
    """Migrate once, bind once, then fork ``count`` workers and supervise them (``proxy.workers``)."""
    from rowgate.proxy.server import cannot_listen
    from rowgate.proxy.workers import Supervisor, listen

    host, port = settings.server.host, settings.server.port
    url = asyncio.run(_migrate_once(settings))
    database = settings.database.model_copy(update={"url": url})  # an embedded one is started once
    settings = worker_settings(settings.model_copy(update={"database": database}), count)
    try:
        sock = listen(host, port)
    except OSError as exc:
        raise cannot_listen(host, port, exc, flag="--port") from exc

    def worker(index: int, first: bool, sock: socket.socket) -> int:
        configure_logging(settings.logging, worker=index)
        _run(_serve(settings, sock=sock, banner=first and index == 0, workers=count))
        return 0

    drain = settings.server.shutdown_timeout.total_seconds() + 10
    return Supervisor(count, sock, worker, drain, share_metrics=settings.server.metrics).run()


def worker_settings(settings: Settings, count: int) -> Settings:
    """``settings`` for each of ``count`` workers: unless ``auth.argon2.threads`` is set, the
    workers share the CPUs out for hashing (``default_threads``) instead of each taking all
    but one (8 workers on 8 CPUs would otherwise hold 56 threads of 19 MiB each)."""
    from rowgate.auth.passwords.hashing import default_threads

    argon2 = settings.auth.argon2
    if argon2.threads is not None:
        return settings
    argon2 = argon2.model_copy(update={"threads": default_threads(count)})
    return settings.model_copy(update={"auth": settings.auth.model_copy(update={"argon2": argon2})})


async def _migrate_once(settings: Settings) -> str:
    """Apply the migrations before any worker starts; the database's URL."""
    from rowgate.auth.db import Database
    from rowgate.auth.migrate import migrate
    from rowgate.proxy.services import database_url

    url = await database_url(settings)
    db = await Database.connect(url, settings.database)
    try:
        async with db.connection() as conn:
            await migrate(conn)
    finally:
        await db.close()
    return url


def cmd_demo(args: argparse.Namespace) -> int:
    from rowgate.proxy.preflight import preflight

    overrides = {"server.port": args.port, "upstream.url": f"http://127.0.0.1:{args.app_port}"}
    settings = load_settings(args.config, overrides=overrides)
    preflight(settings)  # as serve: a mistake exits 2 before the embedded database starts
    configure_logging(settings.logging)
    _run(_serve(settings, demo_port=args.app_port))
    return 0


def _run(main: Coroutine[Any, Any, None]) -> None:
    """Run the server on uvloop where it is installed (faster), else on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


async def _serve(
    settings: Settings,
    demo_port: int | None = None,
    *,
    sock: socket.socket | None = None,
    banner: bool = True,
    workers: int = 1,
) -> None:
    from rowgate.proxy.app import build_app
    from rowgate.proxy.server import check_port, serve_until_stopped

    if sock is None:
        check_port(settings.server.host, settings.server.port, flag="--port")
    demo_runner = None if demo_port is None else await _start_demo_app(demo_port)
    try:
        if demo_port is not None:
            from rowgate.proxy.data.demo import create_demo_tables
            from rowgate.proxy.services import database_url

            await create_demo_tables(await database_url(settings))
        demo = demo_port is not None
        await serve_until_stopped(
            build_app(settings),
            settings,
            on_started=(lambda port: _banner(settings, port, demo, workers)) if banner else None,
            sock=sock,
        )
    finally:
        if demo_runner is not None:
            await demo_runner.cleanup()


async def _start_demo_app(port: int) -> web.AppRunner:
    from rowgate.proxy.demo import build_demo_app
    from rowgate.proxy.server import cannot_listen

    runner = web.AppRunner(build_demo_app(), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
    except OSError as exc:
        await runner.cleanup()
        raise cannot_listen("127.0.0.1", port, exc, flag="--app-port") from exc
    return runner


def _banner(settings: Settings, port: int, demo: bool = False, workers: int = 1) -> None:
    from rowgate.proxy.examples import banner_text

    url = f"http://{settings.server.host}:{port}"
    database = "your PostgreSQL" if settings.database.url else f"embedded PostgreSQL in {settings.data_dir}"
    store = "Redis" if settings.redis.url else "in-process store (single instance)"
    workers_line = f"  workers:      {workers} processes\n" if workers > 1 else ""
    print(
        f"rowgate is running at {url}\n"
        f"  upstream app: {settings.upstream.url or 'none'}\n"
        f"  database:     {database}\n"
        f"  store:        {store}\n"
        f"{workers_line}"
        f"{banner_text(settings, url, demo)}"
        f"Stop with Ctrl-C.",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
