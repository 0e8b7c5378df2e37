"""``rowgate policy ...``: tools for policy authors.

    rowgate policy check   [--policies PATH]                 validate; compare with the database
    rowgate policy explain [--policies PATH] --as user --tenant T --user U "SQL"
    rowgate policy explain [--policies PATH] --role NAME ["SQL"]   what a role gets
    rowgate policy test    [--policies PATH] FILE             run the cases of a test file
    rowgate policy export  [--policies PATH] [--sql] [--data-role ROLE]   the second wall as SQL

``--policies`` defaults to the policy file the configuration names (``--config PATH``, else
``ROWGATE_CONFIG``, else the bundled configuration; ``ROWGATE_POLICIES`` overrides it).  The
configuration's roles (``rbac.roles`` and ``rbac.policy_roles``) are the ones ``role:<name>``
groups may name.  Every command takes ``--database-url``; without it, ``rowgate`` chooses the
database (``proxy.policy_database``: the configured one, else the embedded one of a running
``rowgate demo``), and ``python -m rowgate.proxy.data.policy_cli policy ...`` the configuration's
``database.url``.  Without a database, ``check`` says that it skipped the comparison and why,
``explain`` knows only the columns ``columns.all`` lists, and ``test`` exits 2 saying what to
pass.  Exit codes: 0 fine, 1 refused or failed, 2 invalid input.

``explain --role`` shows the role's table permissions beside the rows the policy gives it, per
table and operation (or, with a statement, the permissions the statement needs and whether the
role holds them).  What a role holds comes from ``rowgate`` (``roles``), which knows the
configuration's roles and reads an organisation's custom role with ``--tenant`` and a database.

``export`` prints the second wall (``rls.export``): the role the data API runs as (``--data-role``,
default ``data.role`` of the configuration), its grants and the native policies.  With ``--sql``
it reads the database and prints exactly what that database needs, for a person allowed to run
it (rowgate's own login may not create roles on managed PostgreSQL).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import asyncpg
import sqlglot

from rowgate.config import load_settings
from rowgate.config.data import DataSettings
from rowgate.errors import ConfigError
from rowgate.proxy.data.testcases import CASES_FORMAT, load_cases, run_cases
from rowgate.rls.errors import QueryRefused, WriteRefused
from rowgate.rls.export import DEFAULT_ROLE, export_postgres
from rowgate.rls.grants import grant
from rowgate.rls.introspect import introspect
from rowgate.rls.policy import ACTIONS, OPERATIONS, PolicySet, load_policies
from rowgate.rls.rewrite import Rewriter, Rewritten
from rowgate.rls.schema import Schema, missing_tables, schema_problems
from rowgate.rls.subject import Subject
from rowgate.rls.wall import plan_for, script_for


@dataclass(frozen=True, slots=True)
class RoleGrants:
    """What a role holds on the data API, as ``rowgate`` knows it."""

    name: str
    #: Its permissions as configured (None: unknown, a custom role not read from a database).
    permissions: tuple[str, ...] | None
    #: Whether it holds a permission (``tasks:read``), wildcards applied.
    holds: Callable[[str], bool]
    #: Whether it is one of ``rbac.admin_roles`` (then its members are RLS admins).
    admin: bool
    #: Where it comes from: built-in, an organisation's custom role, or unknown.
    where: str


#: Looks a role up by name (and tenant, for custom roles): given by ``rowgate``.
RoleLookup = Callable[[str, str | None], RoleGrants]


@dataclass(frozen=True, slots=True)
class DatabaseChoice:
    """The database a command reads (``url``), and where it came from or why there is none."""

    url: str | None
    #: Shown to the user: ``--database-url``, ``database.url of the configuration``, or why none.
    source: str


def add_policy_commands(subparsers: Any) -> None:
    """Add ``policy`` with its subcommands to an argparse subparsers object."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--policies", metavar="PATH", help="the policy file (default: the one the config names)"
    )
    common.add_argument("--config", metavar="PATH", help="the rowgate configuration file")
    common.add_argument(
        "--database-url",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="PostgreSQL to read tables and columns from (default: database.url of the configuration, "
        "else the embedded database of a running `rowgate demo` in this folder)",
    )
    policy = subparsers.add_parser(
        "policy", help="check, explain, test and export row-level security policies"
    )
    commands = policy.add_subparsers(dest="policy_command", metavar="COMMAND", required=True)
    commands.add_parser(
        "check", parents=[common], help="validate the policies; compare them with the database's tables"
    )
    explain = commands.add_parser("explain", parents=[common], help="show how a statement is rewritten")
    explain.add_argument(
        "--as",
        dest="groups",
        help="groups, comma-separated (admin,user,guest); default: the role's (admin,user or user)",
    )
    explain.add_argument("--tenant", help="the tenant (org) id")
    explain.add_argument("--user", help="the user id")
    explain.add_argument("--role", help="the role name: show what it may do on every table")
    explain.add_argument("--params", type=int, default=0, help="how many $n parameters the statement binds")
    explain.add_argument("--dialect", help="SQL dialect (default: the policies' dialect)")
    explain.add_argument("sql", nargs="?", help="the statement (optional with --role)")
    test = commands.add_parser(
        "test",
        parents=[common],
        help="run a YAML file of policy test cases against a database",
        description="Run the cases of a YAML file against a database; each must have its expected outcome.",
        epilog=CASES_FORMAT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    test.add_argument("file", metavar="FILE", help="the cases file (format below)")
    export = commands.add_parser(
        "export", parents=[common], help="print the second wall: the data role, its grants, native policies"
    )
    export.add_argument("--format", choices=["postgres"], default="postgres")
    export.add_argument(
        "--sql", action="store_true", help="read the database and print exactly the SQL it needs"
    )
    export.add_argument("--data-role", help="the role the data API runs as (default: data.role)")


def run_policy_command(
    args: argparse.Namespace, database: DatabaseChoice, roles: RoleLookup | None = None
) -> int:
    """Run the ``policy`` subcommand in ``args`` with ``database``; the exit code."""
    try:
        policies = _policies(args)
        if args.policy_command == "explain":
            return _explain(args, policies, database, roles)
        command = {"check": _check, "test": _test, "export": _export}[args.policy_command]
        return command(args, policies, database)
    except ConfigError as error:
        print("\n".join(error.problems), file=sys.stderr)
        return 2
    except (OSError, asyncpg.PostgresError) as error:
        print(
            f"policy {args.policy_command}: the database ({database.source}) failed: {error}", file=sys.stderr
        )
        return 1


def _policies(args: argparse.Namespace) -> PolicySet:
    settings = load_settings(args.config)
    path = args.policies or settings.policies
    if path is None:
        raise ConfigError(["the configuration says policies: null (no data API): pass --policies PATH"])
    return load_policies(path, roles=settings.rbac.known_roles)


def _schema(policies: PolicySet, database_url: str | None) -> Schema:
    if not database_url:
        return Schema(None, policies.schema)

    async def read() -> Schema:
        conn = await asyncpg.connect(database_url)
        try:
            return await introspect(conn, [policies.schema, *_other_schemas(policies)])
        finally:
            await conn.close()

    return asyncio.run(read())


def _other_schemas(policies: PolicySet) -> list[str]:
    return sorted({t.schema for t in policies.tables.values()} - {policies.schema})


def _check(args: argparse.Namespace, policies: PolicySet, database: DatabaseChoice) -> int:
    out = sys.stdout
    print(f"{policies.source}: {len(policies.tables)} table(s), version {policies.version}", file=out)
    if not database.url:
        print(
            f"database comparison SKIPPED: {database.source}. Pass --database-url URL to check that "
            "the tables and columns the policies name exist.",
            file=out,
        )
        return 0
    print(f"compared with the database ({database.source})", file=out)
    schema = _schema(policies, database.url)
    problems = schema_problems(policies, schema)
    missing = missing_tables(policies, schema)
    problems += [f"tables.{name}: the database has no such table" for name in missing]
    unprotected = sorted(set(schema.tables()) - set(policies.tables))
    for table in unprotected:
        print(f"no policy (every statement on it is refused): {table}", file=out)
    for problem in problems:
        print(f"{policies.source}: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _explain(
    args: argparse.Namespace, policies: PolicySet, database: DatabaseChoice, roles: RoleLookup | None
) -> int:
    role = roles(args.role, args.tenant) if args.role and roles is not None else None
    default = "admin,user" if role is not None and role.admin else "user"
    groups = frozenset(g.strip() for g in (args.groups or default).split(",") if g.strip())
    try:
        subject = Subject(args.user, args.tenant, groups, args.role)
    except (TypeError, ValueError) as error:
        print(f"--as/--tenant/--user: {error}", file=sys.stderr)
        return 2
    if role is not None:
        _print_role(role, sys.stdout)
    if args.sql is None:
        if role is None:
            hint = "run `rowgate policy explain --role NAME`" if args.role else "or --role NAME"
            print(f"explain: give a statement, {hint} to see what a role gets", file=sys.stderr)
            return 2
        _print_role_tables(policies, subject, role, sys.stdout)
        return 0
    rewriter = Rewriter(policies, args.dialect, schema=_schema(policies, database.url))
    try:
        rewritten = rewriter.rewrite(args.sql, subject, args.params)
    except (QueryRefused, WriteRefused) as error:
        print(f"refused ({error.code}): {error.detail}", file=sys.stderr)
        if not database.url and "unknown" in error.detail:
            print(
                f"(no database: {database.source}; pass --database-url URL so that rowgate can read "
                "the tables and their columns)",
                file=sys.stderr,
            )
        return 1
    _print_explanation(rewritten, rewriter, args.params, sys.stdout)
    if role is not None and role.permissions is not None:
        lacking = [p for p in rewritten.permissions if not role.holds(p)]
        held = [p for p in rewritten.permissions if role.holds(p)]
        print(f"-- needs: {', '.join(rewritten.permissions)}", file=sys.stdout)
        if lacking:
            print(
                f"-- role {role.name} lacks {', '.join(lacking)}: refused (permission_denied)",
                file=sys.stdout,
            )
            return 1
        print(f"-- role {role.name} holds {', '.join(held)}", file=sys.stdout)
    return 0


def _print_role(role: RoleGrants, out: TextIO) -> None:
    held = ", ".join(role.permissions) if role.permissions is not None else "unknown"
    print(f"role {role.name} ({role.where}): {held or 'no permissions'}", file=out)


def _print_role_tables(policies: PolicySet, subject: Subject, role: RoleGrants, out: TextIO) -> None:
    """Per table and operation: the permission the role needs, whether it holds it, and the rows."""
    signature = policies.signature(Subject("<user>", "<tenant>", subject.groups, subject.role))
    groups = ", ".join(signature[0])
    print(f"as groups [{groups}] (and self, with a user id)", file=out)
    for table in policies.tables.values():
        print(table.qualified, file=out)
        resource = policies.resource(table)
        for operation in OPERATIONS:
            permission = f"{resource}:{ACTIONS[operation]}"
            rows = grant(table, operation, signature).describe()
            print(
                f"  {operation:<6}  {permission:<28} {_verdict(role, permission):<8} rows: {rows}", file=out
            )


def _verdict(role: RoleGrants, permission: str) -> str:
    if role.permissions is None:
        return "?"
    return "held" if role.holds(permission) else "missing"


def _print_explanation(rewritten: Rewritten, rewriter: Rewriter, params: int, out: TextIO) -> None:
    pretty = sqlglot.parse_one(rewritten.sql, read=rewriter.dialect).sql(rewriter.dialect, pretty=True)
    print(pretty + ";", file=out)
    for number, value in enumerate(rewritten.params, start=params + 1):
        print(f"-- ${number} = {value!r}", file=out)
    for rule in rewritten.tables:
        hidden = f"; hidden: {', '.join(rule.hidden)}" if rule.hidden else ""
        groups = ", ".join(rule.groups) or "no group"
        print(
            f"-- {rule.table} AS {rule.alias}: {rule.operation} by [{groups}]: {rule.rule}{hidden}", file=out
        )


def _test(args: argparse.Namespace, policies: PolicySet, database: DatabaseChoice) -> int:
    cases = load_cases(args.file)
    database_url = database.url
    if not database_url:
        print(
            f"policy test runs its cases in a database, and there is none: {database.source}. "
            "Pass --database-url URL (or set database.url, or run `rowgate demo` in this folder).",
            file=sys.stderr,
        )
        return 2

    async def go() -> int:
        conn = await asyncpg.connect(database_url)
        try:
            schema = await introspect(conn, [policies.schema, *_other_schemas(policies)])
            verdicts = await run_cases(conn, Rewriter(policies, schema=schema), cases)
        finally:
            await conn.close()
        for verdict in verdicts:
            print(
                ("ok   " if verdict.passed else "FAIL ")
                + verdict.name
                + (f": {verdict.detail}" * bool(verdict.detail))
            )
        failed = sum(not v.passed for v in verdicts)
        print(f"{len(verdicts) - failed} passed, {failed} failed")
        return 1 if failed else 0

    return asyncio.run(go())


def _export(args: argparse.Namespace, policies: PolicySet, database: DatabaseChoice) -> int:
    data = _data_settings(args)
    role = args.data_role or data.role or DEFAULT_ROLE
    database_url = database.url
    if not args.sql:
        sys.stdout.write(export_postgres(policies, _schema(policies, database_url), role=role))
        return 0
    if not database_url:
        print(
            f"policy export --sql reads the database, and there is none: {database.source}. "
            "Pass --database-url URL or set database.url.",
            file=sys.stderr,
        )
        return 2

    async def read() -> str:
        conn = await asyncpg.connect(database_url)
        try:
            schema = await introspect(conn, data.schemas)
            wall = await plan_for(
                conn, policies, schema, role=role, schemas=data.schemas, native=data.native_rls
            )
            return await script_for(conn, wall)
        finally:
            await conn.close()

    sys.stdout.write(asyncio.run(read()))
    return 0


def _data_settings(args: argparse.Namespace) -> DataSettings:
    """``data:`` of the configuration (its defaults when there is none that loads)."""
    try:
        return load_settings(args.config).data
    except ConfigError:
        return DataSettings()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rowgate.proxy.data.policy_cli policy ...``"""
    parser = argparse.ArgumentParser(prog="rls", description="rowgate's row-level security policy tools")
    parser.add_argument("--database-url", help="PostgreSQL URL (default: database.url of the configuration)")
    add_policy_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return run_policy_command(args, _configured_database(args))


def _configured_database(args: argparse.Namespace) -> DatabaseChoice:
    if args.database_url is not None:
        url = args.database_url or None
        return DatabaseChoice(url, "--database-url" if url else "--database-url is empty")
    try:
        url = load_settings(args.config).database.url
    except ConfigError:
        url = None
    return DatabaseChoice(url, "database.url of the configuration" if url else "database.url is not set")


if __name__ == "__main__":
    sys.exit(main())
