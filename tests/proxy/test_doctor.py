"""``rowgate doctor`` as an operator runs it: one line per check, what to fix, exit code 1 on a problem."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import asyncpg
import pytest

from rowgate.proxy.data.demo import create_demo_tables
from tests import clikit
from tests.conftest import REDIS_URL
from tests.proxy.test_embedded_demo import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class Quiet(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(404)  # any answer says the app is there
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def doctor(tmp_path: Path, database: str, *args: str, **env: str) -> tuple[int, dict[str, str], str]:
    """Exit code, the first line of each check (``check: ok|PROBLEM detail``), and all output."""
    given = {"ROWGATE_DATABASE_URL": database} if database else {}
    done = clikit.run("doctor", *args, cwd=tmp_path, env={**given, "ROWGATE_REDIS_URL": REDIS_URL, **env})
    lines: dict[str, str] = {}
    for line in done.stdout.splitlines():
        state, _, rest = line.partition(" ")
        check, _, detail = rest.strip().partition(": ")
        if state in ("ok", "PROBLEM"):
            lines.setdefault(check, f"{state} {detail}")
    return done.returncode, lines, done.stdout + done.stderr


@pytest.fixture
async def healthy_database(migrated_database: str, tmp_path: Path) -> str:
    """rowgate's migrations, the demo's tables and the second wall for them: what serve leaves."""
    await create_demo_tables(migrated_database)
    migrate = clikit.run("migrate", cwd=tmp_path, env={"ROWGATE_DATABASE_URL": migrated_database})
    assert migrate.returncode == 0, migrate.stderr
    return migrated_database


def test_a_healthy_setup_exits_0_with_a_line_per_check(
    tmp_path: Path, healthy_database: str, upstream: str
) -> None:
    code, lines, output = doctor(tmp_path, healthy_database, "--upstream", upstream)
    assert code == 0, output
    expected = [
        "configuration", "master key", "public URL", "database", "migrations", "clock", "tables",
        "second wall", "redis", "mail", "upstream",
    ]  # fmt: skip
    assert list(lines) == expected
    assert all(line.startswith("ok ") for line in lines.values()), output
    assert "everything rowgate needs is in place" in output
    assert "rowgate_data" in lines["second wall"]
    assert lines["tables"] == "ok all 3 table(s) of the policies, with their columns"


def test_an_unreachable_database_is_named_with_the_fix(tmp_path: Path, upstream: str) -> None:
    code, lines, output = doctor(
        tmp_path, f"postgresql://postgres:hunter2@127.0.0.1:{free_port()}/nowhere", "--upstream", upstream
    )
    assert code == 1, output
    assert lines["database"].startswith("PROBLEM cannot connect to postgresql://postgres:***@127.0.0.1:")
    assert "check database.url (or ROWGATE_DATABASE_URL)" in lines["database"]
    assert "hunter2" not in output
    assert "1 problem(s)" in output


def test_an_unmigrated_database_says_run_migrate(tmp_path: Path, fresh_database: str, upstream: str) -> None:
    code, lines, output = doctor(tmp_path, fresh_database, "--upstream", upstream)
    assert code == 1, output
    assert lines["migrations"].startswith("PROBLEM ")
    assert "0001_foundation" in lines["migrations"]
    assert "run `rowgate migrate`" in lines["migrations"]


def test_a_missing_table_is_named(tmp_path: Path, migrated_database: str, upstream: str) -> None:
    code, lines, output = doctor(tmp_path, migrated_database, "--upstream", upstream)
    assert code == 1, output
    assert lines["migrations"].startswith("ok ")
    assert lines["tables"] == (
        "PROBLEM the policies name tables the database does not have: public.projects, public.tasks, "
        "public.posts: create them (your app's migrations) or remove their policies"
    )


def test_a_policy_naming_a_column_the_table_lacks_is_named(
    tmp_path: Path, healthy_database: str, upstream: str
) -> None:
    policies = tmp_path / "policies.yaml"
    policies.write_text(
        "version: 1\ndefaults: {tenant_column: org_id, owner_column: created_by}\n"
        "tables:\n  tasks:\n    select: [user]\n    filters: {user: \"colour = 'red'\"}\n"
    )
    code, lines, output = doctor(
        tmp_path, healthy_database, "--upstream", upstream, "--policies", str(policies)
    )
    assert code == 1, output
    assert lines["tables"].startswith(
        "PROBLEM tables.public.tasks: the rules name columns the table does not have"
    )
    assert "colour" in lines["tables"]


def test_an_unreachable_upstream_is_named(tmp_path: Path, healthy_database: str) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, lines, output = doctor(tmp_path, healthy_database, "--upstream", url)
    assert code == 1, output
    assert lines["upstream"].startswith(f"PROBLEM cannot reach {url}")
    assert "start the app, or check upstream.url" in lines["upstream"]
    assert "1 problem(s)" in output


def test_an_unreachable_redis_is_named(tmp_path: Path, healthy_database: str, upstream: str) -> None:
    code, lines, output = doctor(
        tmp_path,
        healthy_database,
        "--upstream",
        upstream,
        ROWGATE_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
    )
    assert code == 1, output
    assert lines["redis"].startswith("PROBLEM cannot reach redis://127.0.0.1:")
    assert "check redis.url (or ROWGATE_REDIS_URL)" in lines["redis"]


def test_a_malformed_redis_url_is_a_configuration_error(tmp_path: Path, healthy_database: str) -> None:
    code, _, output = doctor(tmp_path, healthy_database, ROWGATE_REDIS_URL="http://cache.internal:6379")
    assert code == 2
    assert "redis.url (from ROWGATE_REDIS_URL): expected a URL like redis://127.0.0.1:6379/0" in output
    assert "Traceback" not in output


def test_production_wants_a_master_key_and_an_https_public_url(
    tmp_path: Path, healthy_database: str, upstream: str
) -> None:
    code, lines, output = doctor(
        tmp_path, healthy_database, "--upstream", upstream, ROWGATE_MODE="production"
    )
    assert code == 1, output
    assert lines["master key"].startswith("PROBLEM ")
    assert "ROWGATE_MASTER_KEY" in lines["master key"]
    assert lines["public URL"].startswith("PROBLEM not set")
    assert "https" in lines["public URL"]


def test_a_second_wall_with_a_gap_is_named_with_the_fix(
    tmp_path: Path, healthy_database: str, upstream: str
) -> None:
    async def revoke() -> None:
        conn = await asyncpg.connect(healthy_database)
        try:
            await conn.execute("REVOKE SELECT ON public.tasks FROM rowgate_data")
        finally:
            await conn.close()

    asyncio.run(revoke())
    code, lines, output = doctor(tmp_path, healthy_database, "--upstream", upstream)
    assert code == 1, output
    assert lines["second wall"].startswith("PROBLEM ")
    assert "public.tasks" in lines["second wall"]
    assert "run `rowgate migrate`" in lines["second wall"]


def test_an_unreachable_smtp_server_is_named(tmp_path: Path, healthy_database: str, upstream: str) -> None:
    bundled = Path(__file__).parents[2] / "config"
    text = (bundled / "rowgate.yaml").read_text()
    text = text.replace("policies: policies.yaml", f"policies: {bundled / 'policies.yaml'}")
    port = free_port()
    text = text.replace("backend: file ", "backend: smtp ").replace("port: 587", f"port: {port}")
    config = tmp_path / "rowgate.yaml"
    config.write_text(text)
    code, lines, output = doctor(tmp_path, healthy_database, "--config", str(config), "--upstream", upstream)
    assert code == 1, output
    assert lines["mail"].startswith(f"PROBLEM cannot reach SMTP 127.0.0.1:{port}")
    assert "check mail.smtp.host and port" in lines["mail"]
    assert "1 problem(s)" in output


def test_an_embedded_database_that_is_not_running_is_said(tmp_path: Path, upstream: str) -> None:
    """The quick start's setup before ``rowgate demo`` runs: nothing wrong, and nothing started."""
    code, lines, output = doctor(tmp_path, None, "--upstream", upstream)
    assert code == 0, output
    assert lines["database"].startswith(
        f"ok embedded PostgreSQL in {tmp_path / '.rowgate' / 'postgres'}, not running"
    )
    assert "migrations" not in lines
    assert not (tmp_path / ".rowgate" / "postgres").exists()
