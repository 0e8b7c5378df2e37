"""The identity headers the upstream is sent, kept per principal object."""

from __future__ import annotations

import pytest

from rowgate.auth.principal import GUEST, Principal
from rowgate.proxy import mutate
from rowgate.proxy.mutate import IdentityHeaders


def member(user_id: str) -> Principal:
    return Principal(method="password", user_id=user_id, org_id="org-1", role="member", session_id="s-1")


def test_each_principal_gets_its_own_identity_headers_worked_out_once() -> None:
    identity = IdentityHeaders()
    alice = member("alice")
    first = identity(alice)
    assert dict(first) == {
        "X-Rowgate-User-Id": "alice",
        "X-Rowgate-Org-Id": "org-1",
        "X-Rowgate-Role": "member",
        "X-Rowgate-Session-Id": "s-1",
        "X-Rowgate-Auth-Method": "password",
    }
    assert identity(alice) is first
    assert dict(identity(member("bob")))["X-Rowgate-User-Id"] == "bob"
    assert identity(GUEST) == (("X-Rowgate-Auth-Method", "guest"),)


def test_past_the_bound_the_kept_headers_are_forgotten_not_mixed_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mutate, "MAX_KEPT", 2)
    identity = IdentityHeaders()
    callers = [member(f"user-{n}") for n in range(5)]
    for _ in range(2):
        for caller in callers:
            assert dict(identity(caller))["X-Rowgate-User-Id"] == caller.user_id
    assert len(identity._kept) <= 2
