"""What a key acts as: scopes capped by its creator's current permissions; groups by type."""

from __future__ import annotations

import pytest

from rowgate.auth.apikeys.principal import KeyRecord, key_principal
from rowgate.auth.rbac.permissions import canonical

ADMIN = canonical(["*"])
MEMBER = canonical(["tasks:create", "tasks:read", "tasks:update", "projects:read"])


def record(kind: str = "secret", scopes: tuple[str, ...] = ("*",), role: str | None = "admin") -> KeyRecord:
    return KeyRecord(
        id="k1",
        org_id="o1",
        kind=kind,  # type: ignore[arg-type]
        scopes=canonical(scopes),
        created_by="u1",
        creator_role=role,
        usable_until=None,
        revoked=False,
    )


def test_a_full_secret_key_of_an_admin_is_in_the_admin_group() -> None:
    principal = key_principal(record(), ADMIN, {"admin"})
    assert principal is not None
    assert principal.method == "api_key"
    assert principal.groups == {"admin", "user"}
    assert principal.permissions == {"*"}
    assert (principal.org_id, principal.api_key_id, principal.user_id) == ("o1", "k1", None)
    assert principal.is_authenticated


def test_narrower_scopes_mean_the_user_group_and_only_those_scopes() -> None:
    principal = key_principal(record(scopes=("tasks:read",)), ADMIN, {"admin"})
    assert principal is not None
    assert principal.groups == {"user"}
    assert principal.permissions == {"tasks:read"}


def test_a_demoted_creator_narrows_the_key() -> None:
    principal = key_principal(record(role="member"), MEMBER, {"admin"})
    assert principal is not None
    assert principal.groups == {"user"}
    assert principal.permissions == MEMBER


@pytest.mark.parametrize(
    ("scopes", "creator", "effective"),
    [
        (("tasks:*",), ["*:read"], {"tasks:read"}),
        (("*:read",), ["tasks:*", "projects:read"], {"tasks:read", "projects:read"}),
        (("billing:*",), ["*:read"], {"billing:read"}),
        (("billing:delete",), ["*:read"], set()),
    ],
)
def test_effective_permissions_are_the_intersection(
    scopes: tuple[str, ...], creator: list[str], effective: set[str]
) -> None:
    principal = key_principal(record(scopes=scopes, role="custom"), canonical(creator), {"admin"})
    assert principal is not None
    assert principal.permissions == effective


def test_a_key_whose_creator_left_acts_as_nobody() -> None:
    assert key_principal(record(role=None), frozenset(), {"admin"}) is None
    assert key_principal(record(kind="publishable", scopes=(), role=None), frozenset(), {"admin"}) is None


def test_a_publishable_key_is_its_tenants_guest() -> None:
    principal = key_principal(record(kind="publishable", scopes=()), ADMIN, {"admin"})
    assert principal is not None
    assert principal.groups == {"guest"}
    assert principal.permissions == frozenset()
    assert principal.org_id == "o1"
    assert not principal.is_authenticated
    assert principal.is_publishable_key
