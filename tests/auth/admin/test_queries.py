"""Admin query strings into filters, outcomes of event names, cursors (pure code)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rowgate.auth.admin.audit_log import position
from rowgate.auth.admin.queries import (
    AuditFilter,
    audit_filter,
    decode_cursor,
    encode_cursor,
    export_filter,
    outcome_of,
)
from rowgate.errors import BadRequest


@pytest.mark.parametrize(
    ("event", "outcome"),
    [
        ("signin.failed", "failure"),
        ("signin.locked", "failure"),
        ("refresh.reused", "failure"),
        ("refresh.refused", "failure"),
        ("password.check_failed", "failure"),
        ("policy.reload_failed", "failure"),
        ("signup.duplicate", "failure"),
        ("signin.succeeded", "success"),
        ("signout", "success"),
        ("session.revoked", "success"),
        ("member.role_changed", "success"),
    ],
)
def test_outcome_of_an_event_name(event: str, outcome: str) -> None:
    assert outcome_of(event) == outcome


def test_a_query_becomes_typed_filters() -> None:
    found = audit_filter(
        {
            "user": "6F9619FF-8B86-D011-B42D-00C04FC964FF",
            "event": "signin",
            "outcome": "failure",
            "ip": "2001:DB8:0::1",
            "from": "2026-12-01T10:00:00+01:00",
            "to": "2026-12-01T10:00:00Z",
            "limit": "10",
        }
    )
    assert found == AuditFilter(
        user_id="6f9619ff-8b86-d011-b42d-00c04fc964ff",
        event="signin",
        outcome="failure",
        ip="2001:db8::1",
        since=datetime(2026, 12, 1, 10, tzinfo=timezone(timedelta(hours=1))),
        until=datetime(2026, 12, 1, 10, tzinfo=UTC),
    )


def test_an_export_needs_both_ends_and_takes_no_page_parameters() -> None:
    window = {"from": "2026-12-01T00:00:00Z", "to": "2026-12-02T00:00:00Z"}
    assert export_filter(window).since is not None
    for query, code in (
        ({"from": window["from"]}, "time_range_required"),
        ({**window, "cursor": "x"}, "unknown_parameter"),
    ):
        with pytest.raises(BadRequest) as caught:
            export_filter(query)
        assert caught.value.code == code


@given(st.datetimes(timezones=st.just(UTC)), st.integers(min_value=0, max_value=2**62))
def test_an_audit_cursor_round_trips(at: datetime, event_id: int) -> None:
    assert position(encode_cursor(at.isoformat(), str(event_id))) == (at, event_id)


@given(st.one_of(st.text(max_size=80), st.binary(max_size=60).map(lambda b: encode_cursor(b.hex()))))
def test_any_other_cursor_is_a_400_never_another_error(text: str) -> None:
    try:
        position(text)
        code = "invalid_cursor"  # a text that happens to be a valid cursor
    except BadRequest as refused:
        code = refused.code
    assert code == "invalid_cursor"


def test_the_last_part_of_a_cursor_may_hold_the_separator() -> None:
    assert decode_cursor(encode_cursor("id", "a|b@example.com"), 2) == ["id", "a|b@example.com"]
