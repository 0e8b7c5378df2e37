"""Which application URLs a sign-in may return to, and how the code is added (pure)."""

from __future__ import annotations

import pytest

from rowgate.auth.flows.exchange import callback_matches, checked_challenge, with_params
from rowgate.errors import ValidationFailed

ALLOWED = ("https://app.example.com/signed-in", "http://localhost:3000/cb")


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://app.example.com/signed-in", True),
        ("https://APP.example.com/signed-in?next=%2Fhome", True),
        ("http://localhost:3000/cb", True),
        ("http://localhost:3001/cb", False),
        ("http://app.example.com/signed-in", False),
        ("https://app.example.com/signed-in/", False),
        ("https://app.example.com/signed-in/../admin", False),
        ("https://app.example.com.evil.com/signed-in", False),
        ("https://evil.com@app.example.com/signed-in", False),
        ("https://app.example.com/signed-in#token", False),
        ("//app.example.com/signed-in", False),
        ("https://[::1/signed-in", False),
        ("", False),
    ],
)
def test_only_configured_urls_match(url: str, ok: bool) -> None:
    assert callback_matches(url, ALLOWED) is ok


def test_the_code_replaces_any_code_the_url_carried() -> None:
    assert (
        with_params("https://a.example.com/cb?x=1&code=evil", code="c0de")
        == "https://a.example.com/cb?x=1&code=c0de"
    )


@pytest.mark.parametrize("challenge", ["", "short", "a" * 44, "a" * 42 + "!"])
def test_a_challenge_must_be_s256(challenge: str) -> None:
    with pytest.raises(ValidationFailed):
        checked_challenge(challenge)


def test_no_challenge_is_fine() -> None:
    assert checked_challenge(None) is None
    assert checked_challenge("A" * 43) == "A" * 43
