"""Which permissions a role grants in an organisation, answered from memory.

Built-in roles come from ``rbac.roles`` and are the same in every organisation.  Custom roles
(``rowgate.custom_roles``) are read per organisation on first use and kept for
``rbac.cache_ttl``; a change is announced on the store channel ``roles`` so that every instance
forgets that organisation's roles at once (and everything after a store reconnection).

Permissions of signed-in users are derived here on each request from the token's ``org_id`` and
``role``, rather than carried in the token: a custom role edited by an admin takes effect on the
next request everywhere, and tokens stay small.  ``version`` grows with every change heard of, so
that callers caching derived values (API-key principals) know when to derive them again.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from types import MappingProxyType

from rowgate.auth.db import Database
from rowgate.auth.ids import canonical_uuid
from rowgate.auth.rbac.permissions import NONE, canonical
from rowgate.auth.store import EphemeralStore
from rowgate.config.tenancy import RbacSettings

log = logging.getLogger("rowgate.rbac")

CHANNEL = "roles"
#: Organisations whose custom roles one instance keeps at most.
MAX_ORGS = 10_000
Roles = Mapping[str, frozenset[str]]
_EMPTY: Roles = MappingProxyType({})


def rls_groups(role: str | None, admin_roles: Collection[str]) -> frozenset[str]:
    """RLS groups of a member: ``user``, plus ``admin`` when the role is an admin role."""
    return frozenset({"user", "admin"}) if role in admin_roles else frozenset({"user"})


class RoleCatalog:
    """Built-in roles and each organisation's custom roles, with their canonical permissions."""

    def __init__(
        self,
        db: Database,
        store: EphemeralStore,
        settings: RbacSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._store = store
        self._ttl = settings.cache_ttl.total_seconds()
        self._clock = clock
        self.builtin: Roles = MappingProxyType({n: canonical(p) for n, p in settings.roles.items()})
        self.admin_roles = frozenset(settings.admin_roles)
        self._orgs: OrderedDict[str, tuple[float, Roles]] = OrderedDict()
        self._epoch = 0
        #: Grows with every change heard of (custom roles edited anywhere, or a reconnection).
        self.version = 0
        #: Announcements received from the store (this instance's own included).
        self.heard = 0

    async def start(self) -> None:
        await self._store.subscribe(CHANNEL, self._on_message)

    def is_admin(self, role: str | None) -> bool:
        return role in self.admin_roles

    def groups(self, role: str | None) -> frozenset[str]:
        return rls_groups(role, self.admin_roles)

    async def permissions(self, org_id: str | None, role: str | None) -> frozenset[str]:
        """What ``role`` grants in ``org_id`` (nothing for an unknown role)."""
        if role is None:
            return NONE
        found = self.builtin.get(role)
        if found is not None:
            return found
        if org_id is None:
            return NONE
        return (await self.custom(org_id)).get(role, NONE)

    async def exists(self, org_id: str, role: str) -> bool:
        return role in self.builtin or role in await self.custom(org_id)

    async def custom(self, org_id: str) -> Roles:
        """The custom roles of ``org_id`` (none for an id that is not a rowgate organisation's)."""
        org = canonical_uuid(org_id)
        if org is None:
            return _EMPTY
        now = self._clock()
        entry = self._orgs.get(org)
        if entry is not None and entry[0] > now:
            self._orgs.move_to_end(org)
            return entry[1]
        epoch = self._epoch
        rows = await self._db.fetch(
            "SELECT name, permissions FROM rowgate.custom_roles WHERE org_id = $1", org
        )
        roles: Roles = MappingProxyType({r["name"]: canonical(r["permissions"]) for r in rows})
        if epoch == self._epoch:  # no change was announced while we read: safe to keep
            self._orgs[org] = (now + self._ttl, roles)
            self._orgs.move_to_end(org)
            while len(self._orgs) > MAX_ORGS:
                self._orgs.popitem(last=False)
        return roles

    async def changed(self, org_id: str) -> None:
        """Announce that ``org_id``'s custom roles changed (after the change committed)."""
        self._forget(org_id)
        await self._store.publish(CHANNEL, json.dumps({"org": org_id}))

    def _forget(self, org_id: str | None) -> None:
        if org_id is None:
            self._orgs.clear()
        else:
            self._orgs.pop(org_id, None)
        self._epoch += 1
        self.version += 1

    async def _on_message(self, message: str | None) -> None:
        if message is None:  # (re)connected: announcements may have been missed
            self._forget(None)
            return
        self.heard += 1
        try:
            org = json.loads(message)["org"]
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed roles announcement")
            return
        self._forget(str(org))
