"""``check-config`` checks what ``serve`` checks before it starts: for each mistake, ``serve``
exits 2 and ``check-config`` exits non-zero, both with the same sentence, and neither starts
anything (the database they are given does not exist)."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests import clikit

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_POLICIES = ROOT / "config" / "policies.yaml"


@dataclass(frozen=True)
class Mistake:
    config: str
    #: The sentence both commands print (``{dir}``: the folder of the configuration).
    sentence: str
    files: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)


MISTAKES = {
    "an invalid policy file": Mistake(
        "policies: bad.yaml\n",
        "{dir}/bad.yaml: tables.tasks.select[0]: expected admin, user, self, guest or role:<role name>, "
        "got 'owner'",
        files={"bad.yaml": "tables:\n  tasks: {select: [owner]}\n"},
    ),
    "a policy file that is not YAML": Mistake(
        "policies: bad.yaml\n",
        "{dir}/bad.yaml: invalid YAML at line 3",
        files={"bad.yaml": "tables:\n  tasks: [select\n"},
    ),
    "an unknown key in the policy file": Mistake(
        "policies: bad.yaml\n",
        "{dir}/bad.yaml: tables.tasks.selekt: unknown key",
        files={"bad.yaml": "tables:\n  tasks: {selekt: [user]}\n"},
    ),
    "a policy for rowgate's own schema": Mistake(
        "policies: bad.yaml\n",
        "{dir}/bad.yaml: tables.rowgate.users: rowgate's own schema is never served",
        files={"bad.yaml": "tables:\n  rowgate.users: {select: [admin]}\n"},
    ),
    "a missing policy file": Mistake(
        "policies: nowhere.yaml\n",
        "{dir}/nowhere.yaml: file not found (write it, or name yours with the configuration's `policies` "
        "key, ROWGATE_POLICIES or --policies; `policies: null` runs rowgate without the data API)",
    ),
    "production without a master key": Mistake(
        f"mode: production\npolicies: {SHIPPED_POLICIES}\n",
        "ROWGATE_MASTER_KEY: not set.  Production mode needs a master key",
    ),
    "a malformed master key": Mistake(
        f"policies: {SHIPPED_POLICIES}\n",
        "ROWGATE_MASTER_KEY: expected 32 random bytes as base64url (43 characters) or hex (64 characters), "
        "got 6 characters",
        env={"ROWGATE_MASTER_KEY": "secret"},
    ),
    "an SMTP login without its password": Mistake(
        f"policies: {SHIPPED_POLICIES}\n"
        "mail: {backend: smtp, smtp: {host: mail.example.org, username: rg}}\n",
        "mail.smtp.username is set but ROWGATE_SMTP_PASSWORD is not",
    ),
    "a sign-in provider without its client secret": Mistake(
        f"policies: {SHIPPED_POLICIES}\n"
        "auth: {providers: {google: {preset: google, client_id: c,\n"
        "  client_secret_env: RG_TEST_GOOGLE_SECRET}}}\n",
        "auth.providers.google.client_secret_env: RG_TEST_GOOGLE_SECRET is not set",
    ),
    "a configuration that is not YAML": Mistake(
        "server: [port\n", "{dir}/rowgate.yaml: invalid YAML at line 2"
    ),
    "an unknown key in the configuration": Mistake(
        "server:\n  prot: 80\n", "{dir}/rowgate.yaml: server.prot: unknown key (check the spelling"
    ),
}


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MISTAKES))
def test_serve_and_check_config_refuse_the_same_mistake_with_the_same_sentence(
    name: str, tmp_path: Path
) -> None:
    mistake = MISTAKES[name]
    config = tmp_path / "rowgate.yaml"
    config.write_text(mistake.config)
    for file, text in mistake.files.items():
        (tmp_path / file).write_text(text)
    sentence = mistake.sentence.format(dir=tmp_path)
    # Nothing listens there: a serve that got past its checks would fail differently (exit 1).
    env = {**mistake.env, "ROWGATE_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{unused_port()}/none"}

    # serve in a process of its own: one that wrongly got past its checks would start (a database,
    # workers forked, signal handlers), which only a process can do harmlessly, and be killed on
    # time; check-config only prints and returns.
    served = clikit.run_process(
        "serve", "--config", str(config), "--port", str(unused_port()), env=env, cwd=tmp_path
    )
    checked = clikit.run("check-config", "--config", str(config), env=env, cwd=tmp_path)

    assert served.returncode == 2, served.stderr
    assert checked.returncode != 0
    assert sentence in served.stderr
    assert sentence in checked.stderr
    assert "configuration is valid" not in checked.stdout
    assert "Traceback" not in served.stderr + checked.stderr
    assert not (tmp_path / ".rowgate").exists()  # nothing started, no dev key written


def test_check_config_gathers_every_problem_at_once(tmp_path: Path) -> None:
    config = tmp_path / "rowgate.yaml"
    config.write_text("mode: production\npolicies: nowhere.yaml\n")

    checked = clikit.run("check-config", "--config", str(config), env={}, cwd=tmp_path)

    assert checked.returncode == 2
    lines = checked.stderr.splitlines()
    assert lines[0] == "rowgate: the configuration has problems:"
    assert lines[1].startswith("  - ROWGATE_MASTER_KEY: not set.")
    assert lines[2].startswith(f"  - {tmp_path}/nowhere.yaml: file not found")
    assert len(lines) == 3


def test_check_config_says_what_it_checked(tmp_path: Path) -> None:
    checked = clikit.run("check-config", env={}, cwd=tmp_path)

    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.splitlines() == [
        "configuration is valid (mode dev, listening on http://127.0.0.1:8080)",
        f"policies: {SHIPPED_POLICIES}, 3 table(s)",
        "the database was not contacted: `rowgate policy check` compares the policies with it",
    ]
    assert not (tmp_path / ".rowgate").exists()


def test_policies_null_runs_without_the_data_api(tmp_path: Path) -> None:
    config = tmp_path / "rowgate.yaml"
    config.write_text("policies: null\n")

    checked = clikit.run("check-config", "--config", str(config), env={}, cwd=tmp_path)

    assert checked.returncode == 0, checked.stderr
    assert "policies: null: no data API" in checked.stdout
