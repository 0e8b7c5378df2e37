"""What an API key may do (pure): its record as read from the database, and the Principal it
acts as once its creator's current permissions are known.

* A **publishable** key acts as the ``guest`` group of its tenant: it is meant to ship in client
  code, so it carries no permissions and never passes a route that needs identity.
* A **secret** key acts with its scopes, capped by the *current* permissions of the member who
  created it (``scopes ∩ creator's permissions``, recomputed when they change).  It is in the
  ``admin`` group of its tenant (plus ``user``, like an admin member) only while that cap takes
  nothing away and the creator still holds an admin role; otherwise it is in the ``user`` group
  only.  A key has no user id, so RLS rules for ``self`` never match it.
* A key whose creator is no longer a member of the tenant acts as nobody (``None``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from rowgate.auth.apikeys.format import KeyType
from rowgate.auth.principal import Principal
from rowgate.auth.rbac.permissions import NONE, intersection, within

GUEST_GROUPS = frozenset({"guest"})
ADMIN_GROUPS = frozenset({"admin", "user"})
USER_GROUPS = frozenset({"user"})


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """An API key as stored, with its creator's current role in the key's organisation."""

    id: str
    org_id: str
    kind: KeyType
    scopes: frozenset[str]
    created_by: str | None
    #: The creator's current role in ``org_id``; None when the creator is no longer a member.
    creator_role: str | None
    #: Epoch second after which the key no longer works (its expiry or the end of its rotation
    #: grace period, whichever comes first); None: it does not expire.
    usable_until: float | None
    revoked: bool
    #: The key's own rate limit, ``(requests, window in seconds)``; None: the configured one.
    rate_limit: tuple[int, int] | None = None

    def expired(self, now: float) -> bool:
        return self.usable_until is not None and now >= self.usable_until


def key_principal(
    record: KeyRecord, creator_permissions: frozenset[str], admin_roles: Collection[str]
) -> Principal | None:
    """The Principal ``record`` acts as; None when its creator has left the organisation."""
    if record.created_by is None or record.creator_role is None:
        return None
    if record.kind == "publishable":
        return Principal(
            method="api_key",
            org_id=record.org_id,
            api_key_id=record.id,
            groups=GUEST_GROUPS,
            expires_at=record.usable_until,
        )
    effective = intersection(record.scopes, creator_permissions) if creator_permissions else NONE
    full = record.creator_role in admin_roles and within(creator_permissions, record.scopes)
    return Principal(
        method="api_key",
        org_id=record.org_id,
        api_key_id=record.id,
        permissions=effective,
        scopes=record.scopes,
        groups=ADMIN_GROUPS if full else USER_GROUPS,
        rate_limit=record.rate_limit,
        expires_at=record.usable_until,
    )
