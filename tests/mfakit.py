"""TOTP codes from an independent implementation: the ``oathtool`` command (Debian's oathtool).

``Authenticator`` plays the user's phone: it hands out codes for the current time step or one
step either side, each step once, as a careful user would; tests that mean to replay a code or to
send one from too far away ask for it explicitly with ``code_at``.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field

import pytest

STEP = 30


def oathtool(secret: str, at: float) -> str:
    """The 6-digit TOTP code of base32 ``secret`` at Unix time ``at``, computed by oathtool."""
    path = shutil.which("oathtool")
    if path is None:
        pytest.fail("oathtool is not installed: apt-get install -y oathtool")
    out = subprocess.run(
        [path, "--totp", "--base32", f"--now=@{int(at)}", secret], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


@dataclass
class Authenticator:
    secret: str
    used: set[int] = field(default_factory=set)

    def code_at(self, offset_steps: int = 0) -> str:
        """The code ``offset_steps`` steps from now (whether or not it was used)."""
        return oathtool(self.secret, time.time() + offset_steps * STEP)

    def fresh(self) -> str:
        """A code of a step within the accepted drift (±1) that was not used yet."""
        now = time.time()
        current = int(now // STEP)
        for step in (current, current + 1, current - 1):
            if step not in self.used:
                self.used.add(step)
                return oathtool(self.secret, step * STEP + 1)
        pytest.fail("three codes used within one step; the test needs fewer")
