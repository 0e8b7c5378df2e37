"""The README's commands and the banner's, run as a user runs them against a live ``rowgate demo``.

Every fenced ``sh`` block of the README that follows the marker ``<!-- runs against rowgate demo -->``
runs in one shell (variables such as ``TOKEN`` carry on from block to block) in the demo's folder,
with the demo's port in place of 8080; then the banner's lines run, twice, as on a second run.
Each command must exit 0 and print what ``EXPECTED`` says, and each command needs a rule there, so
a command added to the README or the banner without a check fails here.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rowgate.config import load_settings
from rowgate.proxy.examples import README_URL, readme_text
from tests import clikit
from tests.proxy.test_embedded_demo import free_port, wait_until_up

pytestmark = [pytest.mark.integration, pytest.mark.slow]

README = Path(__file__).parents[2] / "README.md"
MARKER = "<!-- runs against rowgate demo -->"
BLOCK = re.compile(re.escape(MARKER) + r"\n```sh\n(.*?)```", re.DOTALL)

#: (a pattern of the command, a pattern its output must match); the first rule that fits applies.
EXPECTED: list[tuple[str, str]] = [
    (r"\Acat > ", r"\A\Z"),
    (r"\A(INVITE|GRACE)=", r"\A\Z"),
    (r"\Apython - <<", r"\A\Z"),
    (r'"role": "member"\}', r'"role": ?"member"'),
    (r"/invitations/accept\s", r"\A200\n\Z"),
    (r"Bearer \$GRACE\" \S+/v1/auth/me", r'"email": ?"grace@example\.com".*"role": ?"member"'),
    (r"\Arowgate policy check", r"notes\.yaml: 1 table\(s\).*compared with the database \(the embedded"),
    (
        r"\Arowgate policy explain",
        r'"public"\."notes"\s+WHERE\s+"notes"\."org_id" = \$1 AND "notes"\."created_by" = \$2',
    ),
    (r"\Arowgate policy test", r"\A(ok .*\n){3}3 passed, 0 failed\n\Z"),
    (r"rowgate check-config", r"policies: \S+/notes\.yaml, 1 table\(s\)"),
    (r"/public/hello", r"hello from the demo app"),
    (r"curl -i \S+/api/whoami", r"HTTP/1\.1 401 .*\"code\": ?\"unauthorized\""),
    (r"/healthz", r'\{"status": ?"ok"\}'),
    (r"/readyz", r'"status": ?"ready"'),
    (r"/metrics", r"rowgate_requests_total\{"),
    (r"jwks\.json", r'"keys": ?\[\{'),
    (r"/email/signup", r"\A(201|409)\n\Z"),
    (r"\ATOKEN=", r"\A\Z"),
    (r"Bearer \$TOKEN\" \S+/api/whoami", r"[0-9a-f]{8}-[0-9a-f]{4}-"),
    (r"/v1/auth/me", r'"email": ?"ada@example\.com"'),
    (r"\Acurl \S+/v1/data/tasks\s", r'\A\{"data": ?\[\]\}'),
    (r"\Acurl \S+/v1/data/posts\s", r'"status": ?"published"'),
    (r"-d '\{\"title\": \"try rowgate\"", r'"title": ?"try rowgate"'),
    (r"/v1/data/tasks\?", r'\{"data": ?\[\{.*"title": ?"try rowgate"'),
    (r"/v1/sql", r'"title": ?"try rowgate"'),
]


def commands(text: str) -> list[str]:
    """The shell commands of ``text``: continuation lines joined, comments and blank lines left out.
    A here-document (``<<'EOF'`` ... ``EOF``) stays with its command."""
    found: list[str] = []
    lines = iter(text.splitlines())
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        command = line
        while command.rstrip().endswith("\\"):
            command += "\n" + next(lines)
        heredoc = re.search(r"<<-?'?(\w+)'?", command)
        if heredoc:
            for body in lines:
                command += "\n" + body
                if body.strip() == heredoc.group(1):
                    break
        found.append(command)
    return found


def run_script(commands: list[str], base: str, folder: Path) -> list[tuple[str, str]]:
    """Run ``commands`` in one bash in ``folder``; (command, output) of each, all exiting 0."""
    script = ["set -euo pipefail"]
    for number, command in enumerate(commands):
        script += [f"printf '\\n=== {number}\\n'", command.replace(README_URL, base)]
    (folder / ".curlrc").write_text("no-progress-meter\n")  # as in a terminal, where curl shows none
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    env = {**clikit.environment(), "PATH": path, "CURL_HOME": str(folder)}
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    outputs = re.split(r"\n=== \d+\n", done.stdout)[1:]
    assert done.returncode == 0, f"`{commands[len(outputs) - 1]}` failed:\n{outputs[-1]}"
    assert len(outputs) == len(commands)
    return list(zip(commands, outputs, strict=True))


def check(ran: list[tuple[str, str]]) -> None:
    for command, output in ran:
        rule = next((expected for pattern, expected in EXPECTED if re.search(pattern, command)), None)
        assert rule is not None, f"no rule in EXPECTED for `{command}`: add what its output must show"
        assert re.search(rule, output, re.DOTALL), f"`{command}` printed:\n{output}"
        assert "Traceback" not in output


class LiveDemo:
    """``rowgate demo`` in ``folder`` on free ports; its output in files (no pipe to fill)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.base = f"http://127.0.0.1:{free_port()}"
        self.stdout = folder / "demo.out"
        self.stderr = folder / "demo.err"
        port = self.base.rsplit(":", 1)[1]
        with self.stdout.open("w") as out, self.stderr.open("w") as err:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "rowgate.proxy",
                    "demo",
                    "--port",
                    port,
                    "--app-port",
                    str(free_port()),
                ],
                cwd=folder,
                env=clikit.environment(),
                stdout=out,
                stderr=err,
                text=True,
                start_new_session=True,
            )
        wait_until_up(self.base, self.process)

    def banner(self) -> str:
        deadline = time.monotonic() + 30
        while "Stop with Ctrl-C." not in self.stdout.read_text():
            assert time.monotonic() < deadline, "the demo printed no banner"
            time.sleep(0.1)
        return self.stdout.read_text()

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGINT)
        self.process.wait(timeout=90)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveDemo]:
    live = LiveDemo(tmp_path_factory.mktemp("readme"))
    yield live
    live.stop()


def readme_blocks() -> list[str]:
    return BLOCK.findall(README.read_text())


def test_the_readme_shows_the_examples_the_banner_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.startswith("ROWGATE_")]:
        monkeypatch.delenv(name)
    assert readme_text(load_settings(None)) in readme_blocks(), (
        "README's 'What to try' block differs from proxy/examples.py: "
        "paste the output of `python -m rowgate.proxy.examples`"
    )


def test_every_readme_command_runs_against_a_live_demo(demo: LiveDemo) -> None:
    ran = run_script([c for block in readme_blocks() for c in commands(block)], demo.base, demo.folder)
    check(ran)
    assert len(ran) >= 25


def banner_commands(banner: str) -> list[str]:
    """The command lines of the banner: those indented under a title, after the status lines."""
    tried = banner.split("  store:", 1)[1].split("\n", 1)[1].split("Stop with Ctrl-C.")[0]
    indented = "\n".join(line[2:] for line in tried.splitlines() if line.startswith("  "))
    return commands(indented)


def test_every_banner_line_runs_twice_against_a_live_demo(demo: LiveDemo) -> None:
    banner = demo.banner()
    assert f"rowgate is running at {demo.base}" in banner
    lines = banner_commands(banner)
    assert len(lines) >= 14
    for _ in range(2):  # the second time as on the user's second run: signup 409, sign-in still works
        ran = run_script(lines, demo.base, demo.folder)
        check(ran)
    signup = next(output for command, output in ran if "/email/signup" in command)
    assert signup.strip() == "409"
    assert "/admin" not in banner  # no mount without endpoints; each path above answered as EXPECTED says
