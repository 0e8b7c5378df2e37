"""Signup and sign-in as services (no HTTP), against real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from rowgate.auth.flows.password import confirm_reset
from rowgate.auth.flows.signin import signin
from rowgate.auth.flows.signup import SignupForm, signup
from rowgate.auth.flows.verification import resend_verification, verify_email
from rowgate.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidCredentials,
    TooManyRequests,
    ValidationFailed,
)
from rowgate.proxy.problem import problem
from tests.auth.flows.conftest import CLIENT, GOOD_PASSWORD, Harness, claims

pytestmark = pytest.mark.integration
HarnessFactory = Callable[..., AbstractAsyncContextManager[Harness]]


async def test_signup_creates_user_org_and_session_and_signs_in(harness: Harness) -> None:
    result = await signup(harness.ident, SignupForm(" Ada@Example.COM ", GOOD_PASSWORD, name="Ada"), CLIENT)
    assert result.tokens is not None
    access = claims(result.tokens.access_token)
    user = await harness.ident.db.fetchrow("SELECT * FROM rowgate.users")
    assert user is not None
    assert user["email"] == "ada@example.com"
    assert user["password_hash"].startswith("$argon2id$")
    org = await harness.ident.db.fetchrow(
        "SELECT o.name, m.role, o.id::text FROM rowgate.orgs o JOIN rowgate.memberships m ON m.org_id = o.id"
    )
    assert org is not None
    assert (org["name"], org["role"]) == ("Ada's organisation", "admin")
    assert access["sub"] == str(user["id"])
    assert access["org_id"] == org["id"]
    assert access["role"] == "admin"
    assert access["sid"] == result.tokens.session_id
    session = await harness.ident.db.fetchrow("SELECT device, ip FROM rowgate.sessions")
    assert session is not None
    assert (session["device"], session["ip"]) == ("Firefox on Linux", CLIENT.ip)
    assert [e["event"] for e in await harness.audit()] == ["signup", "signin.succeeded"]
    assert claims(result.tokens.id_token)["email"] == "ada@example.com"


async def test_org_name_can_be_given(harness: Harness) -> None:
    await signup(harness.ident, SignupForm("b@example.com", GOOD_PASSWORD, org_name="Acme"), CLIENT)
    assert await harness.ident.db.fetchval("SELECT name FROM rowgate.orgs") == "Acme"


async def test_a_taken_address_in_any_spelling_is_a_conflict(harness: Harness) -> None:
    await signup(harness.ident, SignupForm("example@example.com", GOOD_PASSWORD), CLIENT)
    with pytest.raises(Conflict) as caught:
        await signup(harness.ident, SignupForm("\uff45xample@\uff25XAMPLE.com", GOOD_PASSWORD), CLIENT)
    assert caught.value.code == "email_taken"
    assert await harness.ident.db.fetchval("SELECT count(*) FROM rowgate.users") == 1
    assert await harness.ident.db.fetchval("SELECT count(*) FROM rowgate.orgs") == 1


async def test_one_hundred_concurrent_signups_with_one_address_create_one_user(
    harness_factory: HarnessFactory,
) -> None:
    async with harness_factory(**{"auth.rate_limits.signup": {"limit": 1000, "window": "1h"}}) as h:
        results = await asyncio.gather(
            *(signup(h.ident, SignupForm("race@example.com", GOOD_PASSWORD), CLIENT) for _ in range(100)),
            return_exceptions=True,
        )
        successes = [r for r in results if not isinstance(r, BaseException)]
        conflicts = [r for r in results if isinstance(r, Conflict)]
        assert (len(successes), len(conflicts)) == (1, 99)
        assert await h.ident.db.fetchval("SELECT count(*) FROM rowgate.users") == 1
        assert await h.ident.db.fetchval("SELECT count(*) FROM rowgate.orgs") == 1
        assert await h.ident.db.fetchval("SELECT count(*) FROM rowgate.memberships") == 1


async def test_weak_passwords_and_bad_addresses_are_422(harness: Harness) -> None:
    with pytest.raises(ValidationFailed) as weak:
        await signup(harness.ident, SignupForm("a@example.com", "password"), CLIENT)
    assert weak.value.code == "weak_password"
    assert {e["code"] for e in weak.value.extra["errors"]} == {"missing_upper", "missing_digit", "common"}
    with pytest.raises(ValidationFailed) as bad:
        await signup(harness.ident, SignupForm("not-an-address", GOOD_PASSWORD), CLIENT)
    assert bad.value.code == "invalid_email"
    assert await harness.ident.db.fetchval("SELECT count(*) FROM rowgate.users") == 0


async def test_signup_is_rate_limited_per_client_ip(harness_factory: HarnessFactory) -> None:
    async with harness_factory(**{"auth.rate_limits.signup": {"limit": 2, "window": "1h"}}) as h:
        for n in range(2):
            await signup(h.ident, SignupForm(f"u{n}@example.com", GOOD_PASSWORD), CLIENT)
        with pytest.raises(TooManyRequests):
            await signup(h.ident, SignupForm("u9@example.com", GOOD_PASSWORD), CLIENT)


async def test_signin_opens_a_new_session(harness: Harness) -> None:
    await signup(harness.ident, SignupForm("a@example.com", GOOD_PASSWORD), CLIENT)
    tokens = await signin(harness.ident, "A@example.com", GOOD_PASSWORD, CLIENT)
    assert claims(tokens.access_token)["amr"] == ["pwd"]
    assert await harness.ident.db.fetchval("SELECT count(*) FROM rowgate.sessions") == 2


async def test_unknown_address_and_wrong_password_fail_alike(harness: Harness) -> None:
    await signup(harness.ident, SignupForm("known@example.com", GOOD_PASSWORD), CLIENT)
    hasher = harness.ident.hasher
    errors: list[InvalidCredentials] = []
    for email in ("known@example.com", "unknown@example.com"):
        with pytest.raises(InvalidCredentials) as caught:
            await signin(harness.ident, email, "Wrong-Password-1", CLIENT)
        errors.append(caught.value)
    assert problem(errors[0]) == problem(errors[1])
    assert errors[0].headers == errors[1].headers
    # The unknown address ran argon2 on a dummy hash, exactly once.
    assert hasher.dummy_verifications == 1
    reasons = [e["details"] for e in await harness.audit("signin.failed")]
    assert reasons == ['{"reason": "wrong_password"}', '{"reason": "unknown_account"}']


async def test_failures_lock_the_account_then_a_success_is_refused_too(harness: Harness) -> None:
    await signup(harness.ident, SignupForm("victim@example.com", GOOD_PASSWORD), CLIENT)
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            await signin(harness.ident, "victim@example.com", "Wrong-Password-1", CLIENT)
    with pytest.raises(TooManyRequests) as caught:
        await signin(harness.ident, "victim@example.com", GOOD_PASSWORD, CLIENT)
    assert caught.value.code == "account_locked"
    assert 50 <= caught.value.retry_after <= 60
    assert len(await harness.audit("signin.locked")) == 1


async def test_unknown_addresses_lock_the_same_way(harness: Harness) -> None:
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            await signin(harness.ident, "nobody@example.com", "Wrong-Password-1", CLIENT)
    with pytest.raises(TooManyRequests) as caught:
        await signin(harness.ident, "nobody@example.com", "Wrong-Password-1", CLIENT)
    assert caught.value.code == "account_locked"


async def test_a_success_resets_the_account_counter(harness: Harness) -> None:
    await signup(harness.ident, SignupForm("a@example.com", GOOD_PASSWORD), CLIENT)
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            await signin(harness.ident, "a@example.com", "Wrong-Password-1", CLIENT)
    await signin(harness.ident, "a@example.com", GOOD_PASSWORD, CLIENT)
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            await signin(harness.ident, "a@example.com", "Wrong-Password-1", CLIENT)
    await signin(harness.ident, "a@example.com", GOOD_PASSWORD, CLIENT)


async def test_client_ip_failures_lock_the_ip_across_accounts(harness_factory: HarnessFactory) -> None:
    async with harness_factory(**{"auth.lockout.ip": {"threshold": 3}}) as h:
        for n in range(3):
            with pytest.raises(InvalidCredentials):
                await signin(h.ident, f"spray{n}@example.com", "Wrong-Password-1", CLIENT)
        with pytest.raises(TooManyRequests) as caught:
            await signin(h.ident, "another@example.com", "Wrong-Password-1", CLIENT)
        assert caught.value.code == "too_many_failures"


async def test_hashes_are_upgraded_on_signin_when_parameters_change(harness_factory: HarnessFactory) -> None:
    async with harness_factory() as old:
        await signup(old.ident, SignupForm("a@example.com", GOOD_PASSWORD), CLIENT)
        before = await old.ident.db.fetchval("SELECT password_hash FROM rowgate.users")
    async with harness_factory(**{"auth.argon2.memory_cost": 128, "auth.argon2.time_cost": 2}) as new:
        await signin(new.ident, "a@example.com", GOOD_PASSWORD, CLIENT)
        after = await new.ident.db.fetchval("SELECT password_hash FROM rowgate.users")
    assert "m=64,t=1" in before
    assert "m=128,t=2" in after


async def test_with_verification_required_signup_mails_a_link_and_gives_no_tokens(
    harness_factory: HarnessFactory,
) -> None:
    async with harness_factory(**{"auth.require_email_verification": True}) as h:
        result = await signup(h.ident, SignupForm("v@example.com", GOOD_PASSWORD), CLIENT)
        assert result.tokens is None
        with pytest.raises(Forbidden) as caught:
            await signin(h.ident, "v@example.com", GOOD_PASSWORD, CLIENT)
        assert caught.value.code == "email_not_verified"
        token = await h.last_token("v@example.com", "Confirm")
        await verify_email(h.ident, token, CLIENT)
        assert (await signin(h.ident, "v@example.com", GOOD_PASSWORD, CLIENT)).access_token
        assert [e["event"] for e in await h.audit()][-2:] == ["email.verified", "signin.succeeded"]


async def test_with_verification_required_a_taken_address_answers_alike_and_warns_its_owner(
    harness_factory: HarnessFactory,
) -> None:
    async with harness_factory(**{"auth.require_email_verification": True}) as h:
        first = await signup(h.ident, SignupForm("v@example.com", GOOD_PASSWORD), CLIENT)
        again = await signup(h.ident, SignupForm("v@example.com", "Other-Password-7"), CLIENT)
        assert first == again
        subjects = [str(m["Subject"]) for m in await h.mails()]
        assert subjects == [
            "Confirm your email address for rowgate",
            "Someone tried to sign up to rowgate with your address",
        ]
        # The warning carries a reset link that works (the owner may have forgotten the password).
        token = await h.last_token("v@example.com", "Someone tried")
        await confirm_reset(h.ident, token, "Brand-New-Password-9", CLIENT)
        await verify_email(h.ident, await h.last_token("v@example.com", "Confirm"), CLIENT)
        assert (await signin(h.ident, "v@example.com", "Brand-New-Password-9", CLIENT)).access_token


async def test_verification_links_are_single_use_and_only_the_newest_works(
    harness_factory: HarnessFactory,
) -> None:
    async with harness_factory(**{"auth.require_email_verification": True}) as h:
        await signup(h.ident, SignupForm("v@example.com", GOOD_PASSWORD), CLIENT)
        first = await h.last_token("v@example.com", "Confirm")
        await resend_verification(h.ident, "v@example.com", CLIENT)
        second = await h.last_token("v@example.com", "Confirm")
        assert first != second
        with pytest.raises(BadRequest) as stale:
            await verify_email(h.ident, first, CLIENT)
        assert stale.value.code == "invalid_verification_token"
        await verify_email(h.ident, second, CLIENT)
        with pytest.raises(BadRequest) as reused:
            await verify_email(h.ident, second, CLIENT)
        assert reused.value.code == "invalid_verification_token"


async def test_resend_answers_alike_for_unknown_and_verified_addresses_and_limits_mail(
    harness_factory: HarnessFactory,
) -> None:
    overrides: dict[str, Any] = {
        "auth.require_email_verification": True,
        "auth.rate_limits.mail_per_address": {"limit": 2, "window": "1h"},
    }
    async with harness_factory(**overrides) as h:
        await signup(h.ident, SignupForm("v@example.com", GOOD_PASSWORD), CLIENT)  # mail 1
        assert await resend_verification(h.ident, "nobody@example.com", CLIENT) is None
        for _ in range(3):
            assert await resend_verification(h.ident, "v@example.com", CLIENT) is None
        verify_mails = [m for m in await h.mails() if m["To"] == "v@example.com"]
        assert len(verify_mails) == 2  # the signup's, then one resend; then the limit (silently)
