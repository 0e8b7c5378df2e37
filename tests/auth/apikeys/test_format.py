"""API key format: type prefix, entropy, checksum, digest; never shown by repr."""

from __future__ import annotations

import pytest

from rowgate.auth.apikeys.format import KEY_LENGTH, digest, generate, parse


@pytest.mark.parametrize(("kind", "prefix"), [("secret", "rg_sk_"), ("publishable", "rg_pk_")])
def test_a_new_key_parses_back_as_its_type(kind: str, prefix: str) -> None:
    key = generate(kind)  # type: ignore[arg-type]
    assert key.text.startswith(prefix)
    assert len(key.text) == KEY_LENGTH
    assert key.prefix == key.text[:14]
    assert parse(key.text) == kind
    assert key.digest == digest(key.text)
    assert len(key.digest) == 32
    assert key.text not in repr(key)


def test_keys_are_unique() -> None:
    assert len({generate("secret").text for _ in range(200)}) == 200


def test_any_single_character_change_is_refused() -> None:
    text = generate("secret").text
    for index in range(6, len(text)):
        for replacement in "0aZ":
            if text[index] == replacement:
                continue
            altered = text[:index] + replacement + text[index + 1 :]
            assert parse(altered) is None, index


@pytest.mark.parametrize(
    "text",
    [
        "",
        "rg_sk_",
        "rg_xx_" + "a" * 46,
        "rg_sk_" + "a" * 45,
        "rg_sk_" + "a" * 47,
        "rg_sk_" + "é" * 46,
        "rg_sk_" + "-" * 46,
        "Bearer rg_sk_abc",
    ],
)
def test_malformed_keys_are_refused(text: str) -> None:
    assert parse(text) is None


def test_a_publishable_key_relabelled_as_secret_is_refused() -> None:
    text = generate("publishable").text
    assert parse("rg_sk_" + text[6:]) is None
