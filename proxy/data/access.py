"""Who calls the data API, and which operations on which tables it may run.

Every operation on a table needs the caller's permission ``<table>:<action>``: ``read`` for
SELECT, ``create`` for INSERT, ``update``, ``delete``; an upsert needs create and update, and
every table a statement reads besides its target needs read (``rls.rules.list_operations``
lists them; the rewritten template carries the list, so checking costs a few set lookups).  The
check runs before the statement does, and the row policy still confines whatever it lets through.

What a caller holds:

* a member (rowgate's token, or an external issuer's): the permissions of its role, built-in or
  its organisation's custom role, as they are now (``RoleCatalog``);
* a secret API key: its scopes capped by its creator's current permissions
  (``Principal.permissions``); a key without scopes may do nothing here;
* a caller without a role (anonymous, a publishable key, a user without an organisation):
  ``rbac.guest_permissions`` (``*:read`` by default: what the policy's ``guest`` group reads).

``data.permissions: off`` checks nothing (the rows stay the policy's business).

The subject's role is kept only while it exists: a built-in role, or a custom role the caller's
organisation holds now.  So a policy's ``role:<name>`` group never matches a role that was deleted,
nor one an external issuer's token made up.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from rowgate.auth.principal import Principal
from rowgate.auth.rbac.catalog import RoleCatalog
from rowgate.auth.rbac.permissions import canonical, grants
from rowgate.config.schema import Settings
from rowgate.errors import Forbidden
from rowgate.rls.policy import PolicySet
from rowgate.rls.subject import Subject


@dataclass(frozen=True, slots=True)
class Access:
    """The table permissions a caller holds on the data API; ``None``: nothing is checked."""

    granted: frozenset[str] | None

    def require(self, *permissions: str) -> None:
        """Forbidden (``permission_denied``, naming each missing one) unless all are held.

        Passed to ``Rewriter.rewrite`` as ``permit``, it runs before the statement is rendered,
        and before the policy's own refusal of it."""
        granted = self.granted
        if granted is None:
            return
        lacking = [p for p in permissions if not grants(granted, p)]
        if lacking:
            plural = "s" if len(lacking) > 1 else ""
            raise Forbidden(
                f"You may not do this without the permission{plural} {', '.join(lacking)}.",
                code="permission_denied",
                extra={"missing": lacking},
            )

    def permit(self, permissions: tuple[str, ...]) -> None:
        """``require`` for ``Rewriter.rewrite``: every permission a statement needs."""
        self.require(*permissions)


#: For statements rowgate runs on its own behalf (is the row there at all?), and ``data.permissions: off``.
UNCHECKED = Access(None)


@dataclass(frozen=True, slots=True)
class Caller:
    """The data API's caller: the RLS subject, and its table permissions."""

    subject: Subject
    access: Access
    #: No credential was sent at all: a refusal tells it to sign in (401), not that it may not (403).
    anonymous: bool = False


async def data_caller(
    principal: Principal, catalog: RoleCatalog, policies: PolicySet, settings: Settings
) -> Caller:
    """The caller ``principal`` is on the data API under ``policies``: its user, tenant, groups
    and (existing) role as the RLS subject, and its table permissions."""
    role = await _existing_role(principal, catalog, policies)
    subject = Subject(
        user_id=principal.user_id, tenant_id=principal.org_id, groups=principal.groups, role=role
    )
    anonymous = principal.method == "guest"
    if settings.data.permissions == "off":
        return Caller(subject, UNCHECKED, anonymous)
    return Caller(subject, Access(_held(principal, settings.rbac.guest_permissions)), anonymous)


def _held(principal: Principal, guest: tuple[str, ...]) -> frozenset[str]:
    if (principal.api_key_id is None and principal.role is None) or principal.is_publishable_key:
        return _canonical(guest)
    return principal.permissions


@lru_cache(maxsize=16)
def _canonical(permissions: tuple[str, ...]) -> frozenset[str]:
    return canonical(permissions)


async def _existing_role(principal: Principal, catalog: RoleCatalog, policies: PolicySet) -> str | None:
    # Only a role a policy names changes a rewrite; only a custom one can have gone away.
    role = principal.role
    if role is None or role not in policies.roles or role in catalog.builtin:
        return role
    if principal.org_id is None or not await catalog.exists(principal.org_id, role):
        return None
    return role
