"""The refresh rotation decision (pure): rotate, tolerate a retry, detect reuse."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from rowgate.auth.sessions.refresh import Presented, Verdict, judge

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
INTERVAL = timedelta(seconds=10)
FRESH = Presented(
    token_id=1,
    session_id="s",
    expires_at=NOW + timedelta(days=30),
    used_at=None,
    session_revoked_at=None,
    session_expires_at=NOW + timedelta(days=30),
    authenticated_at=NOW - timedelta(days=1),
    user_id="u",
    org_id="o",
    role="admin",
    amr=("pwd",),
    email="a@example.com",
    email_verified=True,
    name=None,
    now=NOW,
)


@pytest.mark.parametrize(
    ("changes", "verdict"),
    [
        ({}, Verdict.ROTATE),
        ({"used_at": NOW - timedelta(seconds=3)}, Verdict.RETRY),
        ({"used_at": NOW - INTERVAL}, Verdict.RETRY),
        ({"used_at": NOW - INTERVAL - timedelta(milliseconds=1)}, Verdict.REUSED),
        ({"used_at": NOW - timedelta(days=2)}, Verdict.REUSED),
        ({"expires_at": NOW}, Verdict.EXPIRED),
        ({"session_expires_at": NOW - timedelta(seconds=1)}, Verdict.EXPIRED),
        ({"session_revoked_at": NOW}, Verdict.REVOKED),
        # A revoked session stays revoked, whatever the token: no retry, no second revocation.
        ({"session_revoked_at": NOW, "used_at": NOW}, Verdict.REVOKED),
        # Reuse is detected even after the token would have expired.
        ({"used_at": NOW - timedelta(days=40), "expires_at": NOW - timedelta(days=10)}, Verdict.REUSED),
    ],
)
def test_verdicts(changes: dict[str, object], verdict: Verdict) -> None:
    assert judge(replace(FRESH, **changes), INTERVAL) is verdict  # type: ignore[arg-type]


def test_a_zero_interval_turns_every_second_use_into_reuse() -> None:
    assert judge(replace(FRESH, used_at=NOW - timedelta(microseconds=1)), timedelta(0)) is Verdict.REUSED
