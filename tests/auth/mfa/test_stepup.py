"""Step-up's pure check: a second factor in the token's amr, given within the window."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rowgate.auth.mfa.stepup import Authentication, is_recent

WINDOW = timedelta(minutes=10)
NOW = 1_800_000_000


@pytest.mark.parametrize(
    ("amr", "auth_time", "recent"),
    [
        (("pwd", "otp", "mfa"), NOW - 60, True),
        (("pwd", "otp", "mfa"), NOW - 600, True),
        (("pwd", "otp", "mfa"), NOW - 601, False),
        (("pwd",), NOW, False),
        (("pwd", "otp", "mfa"), None, False),
        (("ext",), NOW, False),
    ],
)
def test_a_step_up_is_recent_only_with_mfa_inside_the_window(
    amr: tuple[str, ...], auth_time: int | None, recent: bool
) -> None:
    assert is_recent(Authentication("u", amr, auth_time), WINDOW, NOW) is recent
