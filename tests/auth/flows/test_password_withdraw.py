"""Password reset and change, account deletion, and what the audit trail never holds."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import pytest

from rowgate.auth.flows.password import change_password, confirm_reset, request_reset
from rowgate.auth.flows.signin import signin
from rowgate.auth.flows.signup import SignupForm, signup
from rowgate.auth.flows.withdraw import withdraw
from rowgate.auth.sessions.issuing import TokenSet
from rowgate.auth.sessions.refresh import refresh
from rowgate.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidCredentials,
    InvalidToken,
    TooManyRequests,
    ValidationFailed,
)
from tests.auth.flows.conftest import CLIENT, GOOD_PASSWORD, Harness, claims

pytestmark = pytest.mark.integration
HarnessFactory = Callable[..., AbstractAsyncContextManager[Harness]]
NEW_PASSWORD = "Brand-New-Secret-9"


async def new_user(h: Harness, email: str = "a@example.com") -> TokenSet:
    result = await signup(h.ident, SignupForm(email, GOOD_PASSWORD), CLIENT)
    assert result.tokens is not None
    return result.tokens


async def test_reset_request_answers_alike_and_mails_only_real_accounts(harness: Harness) -> None:
    await new_user(harness)
    assert await request_reset(harness.ident, "a@example.com", CLIENT) is None
    assert await request_reset(harness.ident, "nobody@example.com", CLIENT) is None
    mails = [m for m in await harness.mails() if "Reset" in str(m["Subject"])]
    assert [m["To"] for m in mails] == ["a@example.com"]
    assert "expires in 30 minutes" in mails[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]


async def test_reset_sets_the_password_and_revokes_every_session(harness: Harness) -> None:
    first = await new_user(harness)
    second = await signin(harness.ident, "a@example.com", GOOD_PASSWORD, CLIENT)
    await request_reset(harness.ident, "a@example.com", CLIENT)
    token = await harness.last_token("a@example.com", "Reset")
    await confirm_reset(harness.ident, token, NEW_PASSWORD, CLIENT)
    for tokens in (first, second):
        assert harness.ident.revocations.is_revoked(tokens.session_id)
        with pytest.raises(InvalidToken):
            await refresh(harness.ident, tokens.refresh_token, CLIENT)
    with pytest.raises(InvalidCredentials):
        await signin(harness.ident, "a@example.com", GOOD_PASSWORD, CLIENT)
    await signin(harness.ident, "a@example.com", NEW_PASSWORD, CLIENT)
    assert await harness.ident.db.fetchval("SELECT email_verified_at IS NOT NULL FROM rowgate.users")
    with pytest.raises(BadRequest) as reused:
        await confirm_reset(harness.ident, token, "Another-Secret-8", CLIENT)
    assert reused.value.code == "invalid_reset_token"


async def test_a_weak_new_password_keeps_the_link_usable(harness: Harness) -> None:
    await new_user(harness)
    await request_reset(harness.ident, "a@example.com", CLIENT)
    token = await harness.last_token("a@example.com", "Reset")
    with pytest.raises(ValidationFailed) as weak:
        await confirm_reset(harness.ident, token, "short", CLIENT)
    assert weak.value.extra["errors"][0]["field"] == "newPassword"
    await confirm_reset(harness.ident, token, NEW_PASSWORD, CLIENT)


async def test_expired_and_superseded_reset_links_are_refused(harness: Harness) -> None:
    await new_user(harness)
    await request_reset(harness.ident, "a@example.com", CLIENT)
    old = await harness.last_token("a@example.com", "Reset")
    await request_reset(harness.ident, "a@example.com", CLIENT)
    new = await harness.last_token("a@example.com", "Reset")
    with pytest.raises(BadRequest):
        await confirm_reset(harness.ident, old, NEW_PASSWORD, CLIENT)
    await harness.ident.db.execute(
        "UPDATE rowgate.one_time_tokens SET expires_at = now() - interval '1 second'"
    )
    with pytest.raises(BadRequest):
        await confirm_reset(harness.ident, new, NEW_PASSWORD, CLIENT)


async def test_a_locked_account_can_still_reset_and_the_reset_lifts_the_lock(harness: Harness) -> None:
    await new_user(harness)
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            await signin(harness.ident, "a@example.com", "Wrong-Password-1", CLIENT)
    with pytest.raises(TooManyRequests):
        await signin(harness.ident, "a@example.com", GOOD_PASSWORD, CLIENT)
    await request_reset(harness.ident, "a@example.com", CLIENT)
    await confirm_reset(
        harness.ident, await harness.last_token("a@example.com", "Reset"), NEW_PASSWORD, CLIENT
    )
    await signin(harness.ident, "a@example.com", NEW_PASSWORD, CLIENT)


async def test_reset_requests_never_lock_anyone_out(harness_factory: HarnessFactory) -> None:
    overrides = {"auth.rate_limits.reset_request": {"limit": 100, "window": "1h"}}
    async with harness_factory(**overrides) as h:
        await new_user(h)
        for _ in range(20):
            await request_reset(h.ident, "a@example.com", CLIENT)
        await signin(h.ident, "a@example.com", GOOD_PASSWORD, CLIENT)
        # ...and mail to one address is capped, silently.
        # (the signup's verification mail counts too)
        assert len([m for m in await h.mails() if m["To"] == "a@example.com"]) == 5


async def test_change_password_needs_the_current_one_and_revokes_other_sessions(harness: Harness) -> None:
    current = await new_user(harness)
    other = await signin(harness.ident, "a@example.com", GOOD_PASSWORD, CLIENT)
    user_id = claims(current.access_token)["sub"]
    with pytest.raises(Forbidden) as wrong:
        await change_password(
            harness.ident, user_id, current.session_id, "Wrong-Password-1", NEW_PASSWORD, CLIENT
        )
    assert wrong.value.code == "wrong_password"
    revoked = await change_password(
        harness.ident, user_id, current.session_id, GOOD_PASSWORD, NEW_PASSWORD, CLIENT
    )
    assert revoked == 1
    assert harness.ident.revocations.is_revoked(other.session_id)
    assert not harness.ident.revocations.is_revoked(current.session_id)
    await refresh(harness.ident, current.refresh_token, CLIENT)
    await signin(harness.ident, "a@example.com", NEW_PASSWORD, CLIENT)
    subjects = sorted(str(m["Subject"]) for m in await harness.mails())
    assert subjects == ["Confirm your email address for rowgate", "Your rowgate password was changed"]


async def test_guessing_the_current_password_locks_like_signin(harness: Harness) -> None:
    tokens = await new_user(harness)
    user_id = claims(tokens.access_token)["sub"]
    for _ in range(5):
        with pytest.raises(Forbidden):
            await change_password(
                harness.ident, user_id, tokens.session_id, "Wrong-Password-1", NEW_PASSWORD, CLIENT
            )
    with pytest.raises(TooManyRequests):
        await change_password(harness.ident, user_id, tokens.session_id, GOOD_PASSWORD, NEW_PASSWORD, CLIENT)


async def test_withdraw_removes_the_user_their_sessions_and_empty_orgs(harness: Harness) -> None:
    tokens = await new_user(harness)
    other = await signin(harness.ident, "a@example.com", GOOD_PASSWORD, CLIENT)
    stay = await new_user(harness, "b@example.com")
    user_id = claims(tokens.access_token)["sub"]
    # A second organisation the user shares with someone else survives.
    shared = await harness.ident.db.fetchval("INSERT INTO rowgate.orgs (name) VALUES ('Shared') RETURNING id")
    await harness.ident.db.execute(
        "INSERT INTO rowgate.memberships (org_id, user_id, role) VALUES ($1, $2, 'member'), ($1, $3, 'admin')",  # noqa: E501
        shared,
        user_id,
        claims(stay.access_token)["sub"],
    )
    await request_reset(harness.ident, "a@example.com", CLIENT)  # pending mail to the address
    with pytest.raises(Forbidden):
        await withdraw(harness.ident, user_id, "Wrong-Password-1", CLIENT)
    await withdraw(harness.ident, user_id, GOOD_PASSWORD, CLIENT)
    db = harness.ident.db
    assert await db.fetchval("SELECT count(*) FROM rowgate.users") == 1
    assert await db.fetchval("SELECT count(*) FROM rowgate.sessions WHERE user_id = $1", user_id) == 0
    assert sorted(await db.fetch("SELECT name FROM rowgate.orgs")) == sorted(
        [("Shared",), ("b's organisation",)]
    )
    assert (
        await db.fetchval("SELECT count(*) FROM rowgate.mail_outbox WHERE recipient = 'a@example.com'") == 0
    )
    assert harness.ident.revocations.is_revoked(tokens.session_id)
    assert harness.ident.revocations.is_revoked(other.session_id)
    (event,) = await harness.audit("account.withdrawn")
    assert str(event["user_id"]) == user_id
    with pytest.raises(InvalidCredentials):
        await signin(harness.ident, "a@example.com", GOOD_PASSWORD, CLIENT)


async def test_the_last_admin_of_a_shared_organisation_cannot_withdraw(harness: Harness) -> None:
    admin = await new_user(harness)
    member = await new_user(harness, "b@example.com")
    admin_id, member_id = claims(admin.access_token)["sub"], claims(member.access_token)["sub"]
    org = claims(admin.access_token)["org_id"]
    db = harness.ident.db
    await db.execute(
        "INSERT INTO rowgate.memberships (org_id, user_id, role) VALUES ($1, $2, 'member')", org, member_id
    )
    with pytest.raises(Conflict) as caught:
        await withdraw(harness.ident, admin_id, GOOD_PASSWORD, CLIENT)
    assert caught.value.code == "last_admin"
    assert caught.value.extra["orgIds"] == [org]
    assert await db.fetchval("SELECT count(*) FROM rowgate.users WHERE id = $1", admin_id) == 1
    # Once the member is an admin too, the first one may go; the organisation stays with its admin.
    await db.execute(
        "UPDATE rowgate.memberships SET role = 'admin' WHERE org_id = $1 AND user_id = $2", org, member_id
    )
    await withdraw(harness.ident, admin_id, GOOD_PASSWORD, CLIENT)
    assert await db.fetchval("SELECT count(*) FROM rowgate.memberships WHERE org_id = $1", org) == 1


async def test_the_audit_trail_never_holds_passwords_or_tokens(harness_factory: HarnessFactory) -> None:
    async with harness_factory(**{"auth.require_email_verification": True}) as h:
        await signup(h.ident, SignupForm("a@example.com", GOOD_PASSWORD), CLIENT)
        verify_token = await h.last_token("a@example.com", "Confirm")
        from rowgate.auth.flows.verification import verify_email

        await verify_email(h.ident, verify_token, CLIENT)
        tokens = await signin(h.ident, "a@example.com", GOOD_PASSWORD, CLIENT)
        with pytest.raises(InvalidCredentials):
            await signin(h.ident, "a@example.com", "Wrong-Password-1", CLIENT)
        renewed = await refresh(h.ident, tokens.refresh_token, CLIENT)
        await request_reset(h.ident, "a@example.com", CLIENT)
        reset_token = await h.last_token("a@example.com", "Reset")
        await confirm_reset(h.ident, reset_token, NEW_PASSWORD, CLIENT)
        events = await h.audit()
        everything = repr(events)
        secrets = [GOOD_PASSWORD, "Wrong-Password-1", NEW_PASSWORD, verify_token, reset_token]
        secrets += [tokens.refresh_token, renewed.refresh_token, tokens.access_token]
        assert not [s for s in secrets if s in everything]
        names = {e["event"] for e in events}
        assert {"signup", "email.verified", "signin.succeeded", "signin.failed", "refresh"} <= names
        assert {"password_reset.requested", "password_reset.completed"} <= names
        assert all(e["ip"] == CLIENT.ip for e in events)
