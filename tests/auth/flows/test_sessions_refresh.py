"""Refresh rotation with reuse detection, sessions and revocation, as services."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import pytest

from rowgate.auth.audit import ClientContext
from rowgate.auth.flows.signin import signin
from rowgate.auth.flows.signup import SignupForm, signup
from rowgate.auth.sessions import service as session_flows
from rowgate.auth.sessions.issuing import TokenSet
from rowgate.auth.sessions.refresh import refresh
from rowgate.errors import InvalidToken, NotFound
from rowgate.proxy.handlers import answers
from tests.auth.flows.conftest import CLIENT, GOOD_PASSWORD, Harness, claims

pytestmark = pytest.mark.integration
HarnessFactory = Callable[..., AbstractAsyncContextManager[Harness]]


async def new_user(h: Harness, email: str = "a@example.com") -> TokenSet:
    result = await signup(h.ident, SignupForm(email, GOOD_PASSWORD), CLIENT)
    assert result.tokens is not None
    return result.tokens


async def test_refresh_rotates_the_token_and_keeps_the_session(harness: Harness) -> None:
    first = await new_user(harness)
    second = await refresh(harness.ident, first.refresh_token, CLIENT)
    assert second.refresh_token != first.refresh_token
    assert second.session_id == first.session_id
    assert claims(second.access_token)["sid"] == first.session_id
    assert claims(second.access_token)["role"] == "admin"
    rows = await harness.ident.db.fetch("SELECT used_at, replaced_by FROM rowgate.refresh_tokens ORDER BY id")
    assert rows[0]["used_at"] is not None
    assert rows[0]["replaced_by"] is not None
    assert rows[1]["used_at"] is None
    third = await refresh(harness.ident, second.refresh_token, CLIENT)
    assert third.session_id == first.session_id


async def test_refresh_tokens_are_stored_as_digests_only(harness: Harness) -> None:
    tokens = await new_user(harness)
    stored = await harness.ident.db.fetchval("SELECT digest FROM rowgate.refresh_tokens")
    assert len(stored) == 32
    assert tokens.refresh_token.encode() not in stored


async def test_reuse_after_the_interval_revokes_the_whole_session(harness_factory: HarnessFactory) -> None:
    async with harness_factory(**{"auth.refresh_reuse_interval": "0s"}) as h:
        first = await new_user(h)
        second = await refresh(h.ident, first.refresh_token, CLIENT)
        with pytest.raises(InvalidToken) as reused:
            await refresh(h.ident, first.refresh_token, CLIENT)  # the thief (or the victim) replays
        assert reused.value.code == "refresh_token_reused"
        # The legitimate successor dies with the session.
        with pytest.raises(InvalidToken) as revoked:
            await refresh(h.ident, second.refresh_token, CLIENT)
        assert revoked.value.code == "session_revoked"
        assert h.ident.revocations.is_revoked(first.session_id)
        assert await h.ident.db.fetchval("SELECT revoked_at IS NOT NULL FROM rowgate.sessions")
        assert len(await h.audit("refresh.reused")) == 1


async def test_a_retry_inside_the_interval_gets_new_tokens(harness: Harness) -> None:
    first = await new_user(harness)
    answers = await asyncio.gather(*(refresh(harness.ident, first.refresh_token, CLIENT) for _ in range(3)))
    assert len({a.refresh_token for a in answers}) == 3
    for answer in answers:  # each successor works once
        await refresh(harness.ident, answer.refresh_token, CLIENT)
    assert not harness.ident.revocations.is_revoked(first.session_id)
    assert len(await harness.audit("refresh.retried")) == 2


@pytest.mark.parametrize("token", ["", "x" * 600, "unknown-token", "\x00"])
async def test_unknown_tokens_are_refused(harness: Harness, token: str) -> None:
    with pytest.raises(InvalidToken) as caught:
        await refresh(harness.ident, token, CLIENT)
    assert caught.value.code == "invalid_refresh_token"


async def test_expired_refresh_tokens_are_refused(harness: Harness) -> None:
    tokens = await new_user(harness)
    await harness.ident.db.execute(
        "UPDATE rowgate.refresh_tokens SET expires_at = now() - interval '1 second'"
    )
    with pytest.raises(InvalidToken) as caught:
        await refresh(harness.ident, tokens.refresh_token, CLIENT)
    assert caught.value.code == "refresh_token_expired"


async def test_sessions_list_marks_the_current_one(harness: Harness) -> None:
    first = await new_user(harness)
    phone = ClientContext(
        "198.51.100.1", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Version/17.0 Safari/604.1"
    )
    second = await signin(harness.ident, "a@example.com", GOOD_PASSWORD, phone)
    user_id = claims(first.access_token)["sub"]
    views = await session_flows.list_sessions(harness.ident, user_id, current=second.session_id)
    assert [(v.session.id, v.current) for v in views] == [
        (second.session_id, True),
        (first.session_id, False),
    ]
    shown = answers.session(views[0])
    assert (shown["device"], shown["ip"], shown["current"]) == ("Safari on iPhone", "198.51.100.1", True)
    assert set(shown) == {"id", "device", "ip", "createdAt", "lastSeenAt", "expiresAt", "current"}


async def test_revoking_a_session_reaches_the_revocation_list_and_refresh(harness: Harness) -> None:
    first = await new_user(harness)
    second = await signin(harness.ident, "a@example.com", GOOD_PASSWORD, CLIENT)
    user_id = claims(first.access_token)["sub"]
    await session_flows.revoke_session(harness.ident, user_id, first.session_id, CLIENT)
    assert harness.ident.revocations.is_revoked(first.session_id)
    assert not harness.ident.revocations.is_revoked(second.session_id)
    with pytest.raises(InvalidToken):
        await refresh(harness.ident, first.refresh_token, CLIENT)
    views = await session_flows.list_sessions(harness.ident, user_id, second.session_id)
    assert [v.session.id for v in views] == [second.session_id]


async def test_other_users_sessions_are_not_found(harness: Harness) -> None:
    mine = await new_user(harness, "me@example.com")
    theirs = await new_user(harness, "them@example.com")
    my_id = claims(mine.access_token)["sub"]
    for session_id in (theirs.session_id, "not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(NotFound):
            await session_flows.revoke_session(harness.ident, my_id, session_id, CLIENT)
    assert not harness.ident.revocations.is_revoked(theirs.session_id)


async def test_revoking_all_others_keeps_the_current_session(harness: Harness) -> None:
    first = await new_user(harness)
    others = [await signin(harness.ident, "a@example.com", GOOD_PASSWORD, CLIENT) for _ in range(3)]
    user_id = claims(first.access_token)["sub"]
    count = await session_flows.revoke_other_sessions(harness.ident, user_id, first.session_id, CLIENT)
    assert count == 3
    assert all(harness.ident.revocations.is_revoked(o.session_id) for o in others)
    assert not harness.ident.revocations.is_revoked(first.session_id)


async def test_signout_ends_this_session_only(harness: Harness) -> None:
    first = await new_user(harness)
    second = await signin(harness.ident, "a@example.com", GOOD_PASSWORD, CLIENT)
    user_id = claims(first.access_token)["sub"]
    await session_flows.signout(harness.ident, user_id, first.session_id, CLIENT)
    await session_flows.signout(harness.ident, user_id, first.session_id, CLIENT)  # idempotent
    assert harness.ident.revocations.is_revoked(first.session_id)
    await refresh(harness.ident, second.refresh_token, CLIENT)
    assert [str(e["session_id"]) for e in await harness.audit("signout")] == [first.session_id] * 2


async def test_me_describes_user_org_role_and_session(harness: Harness) -> None:
    tokens = await new_user(harness)
    access = claims(tokens.access_token)
    me = await session_flows.me(harness.ident, access["sub"], access["org_id"], tokens.session_id)
    assert (me.user.email, me.user.email_verified) == ("a@example.com", False)
    assert me.membership is not None
    assert (me.membership.role, me.membership.org_name) == ("admin", "a's organisation")
    assert me.session_id == tokens.session_id


async def test_the_janitor_deletes_only_what_is_past_retention(harness: Harness) -> None:
    from datetime import timedelta

    from rowgate.auth.flows.janitor import purge

    old = await new_user(harness, "old@example.com")
    live = await new_user(harness, "live@example.com")
    await refresh(harness.ident, live.refresh_token, CLIENT)
    db = harness.ident.db
    await db.execute(
        "UPDATE rowgate.sessions SET revoked_at = now() - interval '8 days' WHERE id = $1", old.session_id
    )
    await db.execute(
        "UPDATE rowgate.refresh_tokens SET expires_at = now() - interval '8 days' WHERE session_id = $1",
        old.session_id,
    )
    removed = await purge(db, timedelta(days=7))
    assert removed["sessions"] == 1
    assert removed["revoked_sessions"] == 1  # its revocation was recorded when it ended, 8 days ago
    assert await db.fetchval("SELECT count(*) FROM rowgate.sessions") == 1
    assert await db.fetchval("SELECT count(*) FROM rowgate.refresh_tokens") == 2  # the live chain
    await refresh(
        harness.ident,
        (await signin(harness.ident, "live@example.com", GOOD_PASSWORD, CLIENT)).refresh_token,
        CLIENT,
    )
