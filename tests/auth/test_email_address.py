"""Email normalisation and validation: one account per mailbox, look-alikes refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rowgate.auth.email_address import InvalidEmail, normalize_email


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("  Foo.Bar@Example.COM ", "foo.bar@example.com"),
        ("\uff45xample@\uff45xample.com", "example@example.com"),  # fullwidth e (NFKC)
        ("user@m\u00fcnchen.de", "user@xn--mnchen-3ya.de"),
        ("user@xn--mnchen-3ya.de", "user@xn--mnchen-3ya.de"),
        ("USER@M\u00dcNCHEN.DE", "user@xn--mnchen-3ya.de"),
        ("a+tag@sub.example.co.uk", "a+tag@sub.example.co.uk"),
        ("j\u00f6rg@example.com", "j\u00f6rg@example.com"),
        ("jo\u0308rg@example.com", "j\u00f6rg@example.com"),  # combining diaeresis composes
        ("\u5c71\u7530@example.jp", "\u5c71\u7530@example.jp"),  # Han only
    ],
)
def test_spellings_of_one_address_normalise_alike(raw: str, normal: str) -> None:
    assert normalize_email(raw) == normal


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "enter an email address"),
        ("plainaddress", "exactly one @"),
        ("a@@example.com", "exactly one @"),
        ("a@b@example.com", "exactly one @"),
        ("a b@example.com", "no spaces"),
        ("a\u200b@example.com", "control characters"),  # zero-width space
        ("a\x00@example.com", "control characters"),
        ("@example.com", "before @ is empty"),
        ("a@", "after @ is empty"),
        ("a@localhost", "domain name like example.com"),
        ("a@[127.0.0.1]", "domain name like example.com"),
        ("a@1.2.3.4", "domain name like example.com"),
        (".a@example.com", "dot"),
        ("a..b@example.com", "dot"),
        ("x" * 65 + "@example.com", "at most 64"),
        ("a@" + "b" * 250 + ".com", "at most 254"),
        ("a@-bad.com", "not a valid domain"),
        ("a@under_score.com", "not a valid domain"),
        ("p\u0430ypal@example.com", "mixes alphabets"),  # Cyrillic a in the local part
        ("user@p\u0430ypal.com", "mixes alphabets"),  # Cyrillic a in the domain
        ("\U0001f600@example.com", "cannot hold"),
        ('"quoted"@example.com', "cannot hold"),
    ],
)
def test_invalid_addresses_are_refused_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidEmail, match=reason):
        normalize_email(raw)


@given(st.emails())
def test_normalising_is_idempotent(address: str) -> None:
    try:
        once = normalize_email(address)
    except InvalidEmail:
        return
    assert normalize_email(once) == once
    assert len(once) <= 254


@given(st.text(max_size=300))
def test_any_text_is_normalised_or_refused_never_crashes(text: str) -> None:
    try:
        normal = normalize_email(text)
    except InvalidEmail:
        return
    assert normal.count("@") == 1
    assert normal == normal.strip()
