"""Invitations as a service (no HTTP): single use, expiry, the invited address only, one open per
address, confined to the inviting organisation."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import asyncpg
import pytest

from rowgate.auth.actor import Actor
from rowgate.auth.audit import ClientContext
from rowgate.auth.db import Database
from rowgate.auth.email_address import normalize_email
from rowgate.auth.orgs.invitations import Invitations
from rowgate.auth.orgs.seams import SignedIn
from rowgate.auth.rbac.catalog import RoleCatalog
from rowgate.auth.rbac.permissions import canonical
from rowgate.auth.sessions.opener import SessionOpener
from rowgate.auth.store import MemoryStore
from rowgate.auth.tokens.keys import KeyRing
from rowgate.auth.tokens.service import TokenService
from rowgate.config.schema import DatabaseSettings
from rowgate.config.tenancy import InvitationSettings, RbacSettings
from rowgate.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tests import keykit

pytestmark = pytest.mark.integration

CLIENT = ClientContext(ip="203.0.113.9", user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0")


@dataclass
class FakeMailer:
    sent: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    woken: int = 0

    async def queue(
        self, conn: asyncpg.Connection, template: str, recipient: str, values: Mapping[str, str]
    ) -> int:
        self.sent.append((template, recipient, dict(values)))
        return len(self.sent)

    def wake(self) -> None:
        self.woken += 1

    def token_for(self, recipient: str) -> str:
        links = [values["link"] for _, to, values in self.sent if to == recipient]
        return links[-1].rsplit("=", 1)[1]


@dataclass
class World:
    db: Database
    invitations: Invitations
    mailer: FakeMailer
    tokens: TokenService

    async def org(self) -> str:
        return str(await self.db.fetchval("INSERT INTO rowgate.orgs (name) VALUES ('Acme') RETURNING id"))

    async def user(self, email: str) -> str:
        return str(
            await self.db.fetchval("INSERT INTO rowgate.users (email) VALUES ($1) RETURNING id", email)
        )

    async def admin(self, org_id: str | None = None) -> Actor:
        org_id = org_id or await self.org()
        user_id = await self.user(f"admin-{uuid.uuid4().hex[:8]}@example.com")
        await self.db.execute(
            "INSERT INTO rowgate.memberships (org_id, user_id, role) VALUES ($1, $2, 'admin')",
            org_id,
            user_id,
        )
        return Actor(user_id, org_id, "admin", canonical(["*"]), True, None, CLIENT)

    def signed_in(self, user_id: str) -> SignedIn:
        return SignedIn(user_id, None, ("pwd",), CLIENT)


@pytest.fixture
async def world(migrated_database: str) -> AsyncIterator[World]:
    db = await Database.connect(migrated_database, DatabaseSettings())
    store = MemoryStore()
    catalog = RoleCatalog(db, store, RbacSettings())
    await catalog.start()
    mailer = FakeMailer()
    tokens = keykit.service(KeyRing.of(keykit.key("EdDSA")))
    invitations = Invitations(
        db,
        catalog,
        InvitationSettings(ttl=timedelta(days=7), max_pending=3),
        mailer,
        SessionOpener(tokens, timedelta(days=30)),
        lambda token: f"https://app.example.com/join?token={token}",
        normalize_email,
    )
    try:
        yield World(db, invitations, mailer, tokens)
    finally:
        await store.close()
        await db.close()


@pytest.fixture(autouse=True)
def _quiet_memory_store(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="rowgate.store")


async def test_an_invitation_is_mailed_and_accepted_once(world: World) -> None:
    admin = await world.admin()
    view = await world.invitations.create(admin, "  Invitee@Example.COM ", "viewer")
    assert (view.email, view.role) == ("invitee@example.com", "viewer")
    (template, recipient, values) = world.mailer.sent[0]
    assert (template, recipient) == ("invitation", "invitee@example.com")
    assert values["role"] == "viewer"
    assert values["lifetime"] == "7 days"
    token = world.mailer.token_for("invitee@example.com")
    stored = await world.db.fetchval("SELECT digest FROM rowgate.invitations WHERE id = $1", view.id)
    assert token.encode() not in bytes(stored)

    invitee = await world.user("invitee@example.com")
    accepted = await world.invitations.accept(world.signed_in(invitee), token)
    assert (accepted.org_id, accepted.role) == (admin.org_id, "viewer")
    claims = world.tokens.verify_access(accepted.tokens.access_token)
    assert (claims.sub, claims.org_id, claims.role) == (invitee, admin.org_id, "viewer")
    role = await world.db.fetchval(
        "SELECT role FROM rowgate.memberships WHERE org_id = $1 AND user_id = $2", admin.org_id, invitee
    )
    assert role == "viewer"
    assert await world.db.fetchval(
        "SELECT email_verified_at IS NOT NULL FROM rowgate.users WHERE id = $1", invitee
    )
    assert await world.invitations.list(admin) == []

    with pytest.raises(Conflict) as reused:
        await world.invitations.accept(world.signed_in(invitee), token)
    assert reused.value.code == "invitation_used"


async def test_accepting_opens_the_session_as_a_sign_in_does(world: World) -> None:
    """The same session row, refresh token and audit record as a password sign-in."""
    admin = await world.admin()
    await world.invitations.create(admin, "invitee@example.com", "viewer")
    invitee = await world.user("invitee@example.com")
    accepted = await world.invitations.accept(
        world.signed_in(invitee), world.mailer.token_for("invitee@example.com")
    )

    session = accepted.tokens.session_id
    (event,) = await world.db.fetch(
        "SELECT user_id::text, org_id::text, ip, user_agent, details::text FROM rowgate.audit_events "
        "WHERE event = 'signin.succeeded' AND session_id = $1",
        session,
    )
    assert {**event, "details": json.loads(event["details"])} == {
        "user_id": invitee,
        "org_id": admin.org_id,
        "ip": CLIENT.ip,
        "user_agent": CLIENT.user_agent,
        "details": {"method": "password", "device": "Firefox on Linux"},
    }
    assert (
        await world.db.fetchval(
            "SELECT count(*) FROM rowgate.refresh_tokens WHERE session_id = $1 AND used_at IS NULL", session
        )
        == 1
    )


async def test_an_expired_invitation_is_refused(world: World) -> None:
    admin = await world.admin()
    await world.invitations.create(admin, "late@example.com", "member")
    await world.db.execute("UPDATE rowgate.invitations SET expires_at = now() - interval '1 second'")
    invitee = await world.user("late@example.com")
    with pytest.raises(Conflict) as caught:
        await world.invitations.accept(world.signed_in(invitee), world.mailer.token_for("late@example.com"))
    assert caught.value.code == "invitation_expired"
    assert await world.invitations.list(admin) == []


async def test_another_address_cannot_accept(world: World) -> None:
    admin = await world.admin()
    await world.invitations.create(admin, "alice@example.com", "member")
    token = world.mailer.token_for("alice@example.com")
    mallory = await world.user("mallory@example.com")
    with pytest.raises(Forbidden) as caught:
        await world.invitations.accept(world.signed_in(mallory), token)
    assert caught.value.code == "invitation_email_mismatch"
    alice = await world.user("alice@example.com")  # the link still works for its addressee
    assert (await world.invitations.accept(world.signed_in(alice), token)).role == "member"


async def test_inviting_again_replaces_the_old_link(world: World) -> None:
    admin = await world.admin()
    await world.invitations.create(admin, "bob@example.com", "member")
    first = world.mailer.token_for("bob@example.com")
    second_view = await world.invitations.create(admin, "bob@example.com", "viewer")
    second = world.mailer.token_for("bob@example.com")
    assert [v.id for v in await world.invitations.list(admin)] == [second_view.id]
    bob = await world.user("bob@example.com")
    with pytest.raises(Conflict) as caught:
        await world.invitations.accept(world.signed_in(bob), first)
    assert caught.value.code == "invitation_revoked"
    assert (await world.invitations.accept(world.signed_in(bob), second)).role == "viewer"


async def test_revoked_and_unknown_tokens_are_refused(world: World) -> None:
    admin = await world.admin()
    view = await world.invitations.create(admin, "carol@example.com", "member")
    await world.invitations.revoke(admin, view.id)
    carol = await world.user("carol@example.com")
    with pytest.raises(Conflict):
        await world.invitations.accept(world.signed_in(carol), world.mailer.token_for("carol@example.com"))
    for token in ("nope", "x" * 600, ""):
        with pytest.raises(NotFound):
            await world.invitations.accept(world.signed_in(carol), token)
    with pytest.raises(NotFound):
        await world.invitations.revoke(admin, view.id)


async def test_invitations_are_confined_to_their_organisation(world: World) -> None:
    theirs = await world.admin()
    view = await world.invitations.create(theirs, "dave@example.com", "member")
    ours = await world.admin()
    assert await world.invitations.list(ours) == []
    for bad in (view.id, "not-an-id"):
        with pytest.raises(NotFound):
            await world.invitations.revoke(ours, bad)
    assert [v.id for v in await world.invitations.list(theirs)] == [view.id]


async def test_members_and_unknown_roles_and_bad_addresses_are_refused(world: World) -> None:
    admin = await world.admin()
    admin_email = await world.db.fetchval("SELECT email FROM rowgate.users WHERE id = $1", admin.user_id)
    with pytest.raises(Conflict) as member:
        await world.invitations.create(admin, admin_email, "member")
    assert member.value.code == "already_member"
    with pytest.raises(ValidationFailed) as role:
        await world.invitations.create(admin, "erin@example.com", "owner")
    assert role.value.code == "unknown_role"
    for bad in ("erin", "erin@", "@example.com", "a b@example.com", "erin@localhost", "a@b@example.com"):
        with pytest.raises(ValidationFailed):
            await world.invitations.create(admin, bad, "member")


async def test_open_invitations_are_capped(world: World) -> None:
    admin = await world.admin()
    for index in range(3):
        await world.invitations.create(admin, f"p{index}@example.com", "member")
    with pytest.raises(Conflict) as caught:
        await world.invitations.create(admin, "p3@example.com", "member")
    assert caught.value.code == "too_many_invitations"
    await world.invitations.create(admin, "p0@example.com", "viewer")  # re-inviting is no new one


async def test_only_admins_invite(world: World) -> None:
    admin = await world.admin()
    member = Actor(admin.user_id, admin.org_id, "member", canonical(["tasks:read"]), False, None, CLIENT)
    with pytest.raises(Forbidden):
        await world.invitations.create(member, "frank@example.com", "member")
    with pytest.raises(Forbidden):
        await world.invitations.list(member)


async def test_accepting_an_invitation_to_an_organisation_one_is_in_is_refused(world: World) -> None:
    admin = await world.admin()
    other = await world.admin()
    await world.invitations.create(other, "grace@example.com", "member")
    grace = await world.user("grace@example.com")
    await world.db.execute(
        "INSERT INTO rowgate.memberships (org_id, user_id, role) VALUES ($1, $2, 'member')",
        other.org_id,
        grace,
    )
    with pytest.raises(Conflict) as caught:
        await world.invitations.accept(world.signed_in(grace), world.mailer.token_for("grace@example.com"))
    assert caught.value.code == "already_member"
    assert admin.org_id != other.org_id
