"""Opening the tenancy services at start-up: roles, members, API keys, external issuers.

``open_tenancy`` starts what follows announcements (the role catalogue, the API-key cache) and the
usage writer, and closes them (writing the last usage counts) on the way out.  Mail, links and
sessions come from the identity flows (their outbox, the links the HTTP layer built, and the one
session opener sign-in uses).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from rowgate.auth.admin.audit_log import AuditLog
from rowgate.auth.admin.members import MemberSessions
from rowgate.auth.apikeys.service import ApiKeys
from rowgate.auth.apikeys.usage import UsageCounter
from rowgate.auth.apikeys.verify import ApiKeyVerifier
from rowgate.auth.db import Database
from rowgate.auth.email_address import normalize_email
from rowgate.auth.external.verify import ExternalIssuers
from rowgate.auth.flows.identity import Identity
from rowgate.auth.orgs.invitations import Invitations
from rowgate.auth.orgs.joining import Joining
from rowgate.auth.orgs.members import Members
from rowgate.auth.orgs.switch import Orgs
from rowgate.auth.rbac.catalog import RoleCatalog
from rowgate.auth.rbac.custom_roles import CustomRoles
from rowgate.auth.sessions.revocation import RevocationList
from rowgate.auth.store import EphemeralStore
from rowgate.config.schema import Settings


@dataclass(frozen=True)
class Tenancy:
    catalog: RoleCatalog
    roles: CustomRoles
    members: Members
    api_keys: ApiKeys
    key_verifier: ApiKeyVerifier
    usage: UsageCounter
    issuers: ExternalIssuers
    invitations: Invitations
    joining: Joining
    orgs: Orgs
    audit_log: AuditLog
    member_sessions: MemberSessions


@contextlib.asynccontextmanager
async def open_tenancy(
    settings: Settings,
    db: Database,
    store: EphemeralStore,
    revocations: RevocationList,
    identity: Identity,
) -> AsyncIterator[Tenancy]:
    async with contextlib.AsyncExitStack() as stack:
        catalog = RoleCatalog(db, store, settings.rbac)
        await catalog.start()
        usage = UsageCounter(db, settings.api_keys.usage_flush_interval.total_seconds())
        usage.start()
        stack.push_async_callback(usage.close)
        verifier = ApiKeyVerifier(db, store, catalog, usage, settings.api_keys)
        await verifier.start()
        issuers = ExternalIssuers(settings.issuers)
        stack.push_async_callback(issuers.close)
        sessions = identity.sessions
        invitations = Invitations(
            db,
            catalog,
            settings.invitations,
            identity.mailer,
            sessions,
            identity.links.accept_invitation,
            normalize_email,
        )
        yield Tenancy(
            catalog=catalog,
            roles=CustomRoles(db, catalog, settings.rbac),
            members=Members(db, catalog, revocations, verifier),
            api_keys=ApiKeys(db, verifier, usage, settings.api_keys, settings.rate_limits.max_api_key),
            key_verifier=verifier,
            usage=usage,
            issuers=issuers,
            invitations=invitations,
            joining=Joining(invitations, identity, revocations),
            orgs=Orgs(db, catalog, revocations, sessions),
            audit_log=AuditLog(db, settings.audit.operators),
            member_sessions=MemberSessions(db, revocations),
        )
