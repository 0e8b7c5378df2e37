"""Who is asking: the small value the rewriter needs, so that ``rls`` never depends on ``auth``.

A ``Subject`` carries a user id (or none), a tenant id (or none), the RLS groups the caller
belongs to and its role name.  Groups are the subject side of the policy groups:

- ``admin``: the caller's role in the tenant is an admin role;
- ``user``: any authenticated member of the tenant (an admin usually has ``{"admin", "user"}``);
- ``guest``: no user (anonymous, or a publishable API key), possibly with a tenant.

``self`` is not a subject group: it is a policy group meaning "rows whose owner column is the
caller", and it applies to every subject that has a user id.  Nor is ``role:<name>``: it applies
to the subject whose ``role`` is ``name`` (``PolicySet.signature`` adds it to the signature when a
table names that role).

Rewritten SQL depends only on the subject's *signature* (its groups and whether it has a user and
a tenant), never on the id values themselves: the values are bound per request, so one cached
template serves every caller with the same signature.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SUBJECT_GROUPS = frozenset({"admin", "user", "guest"})

#: ``(sorted groups, has a user id, has a tenant id)``: everything a rewrite depends on.
Signature = tuple[tuple[str, ...], bool, bool]

_MAX_ID_LENGTH = 256


@dataclass(frozen=True, slots=True)
class Subject:
    """The caller a query is rewritten for."""

    user_id: str | None = None
    tenant_id: str | None = None
    groups: frozenset[str] = field(default_factory=frozenset)
    role: str | None = None
    _signature: Signature = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        groups = frozenset(self.groups)
        object.__setattr__(self, "groups", groups)
        unknown = sorted(groups - SUBJECT_GROUPS)
        if unknown:
            raise ValueError(
                f"unknown subject groups {unknown}; expected a subset of {sorted(SUBJECT_GROUPS)}"
            )
        for name in ("user_id", "tenant_id"):
            _check_id(name, getattr(self, name))
        signature = (tuple(sorted(groups)), self.user_id is not None, self.tenant_id is not None)
        object.__setattr__(self, "_signature", signature)

    @property
    def signature(self) -> Signature:
        """What a rewrite depends on: the groups and whether a user and a tenant are present."""
        return self._signature

    @classmethod
    def guest(cls, tenant_id: str | None = None) -> Subject:
        """An anonymous caller (or a publishable key), optionally bound to a tenant."""
        return cls(tenant_id=tenant_id, groups=frozenset({"guest"}))


def _check_id(name: str, value: object) -> None:
    # Ids end up as bind parameters or as quoted literals: keep them plain text so that every
    # dialect's quoting handles them and no control character reaches a log line.
    if value is None:
        return
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string or None, got {type(value).__name__}")
    if not value or len(value) > _MAX_ID_LENGTH:
        raise ValueError(f"{name} must be 1 to {_MAX_ID_LENGTH} characters long")
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise ValueError(f"{name} must not contain control characters")
