"""The master key (environment, key file, development key) and the AES-256-GCM box."""

from __future__ import annotations

import logging
import secrets
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rowgate.auth.crypto import (
    GENERATE_HINT,
    MASTER_KEY_ENV,
    MASTER_KEY_FILE_ENV,
    SecretBox,
    load_master_key,
    parse_master_key,
)
from rowgate.config.schema import Settings
from rowgate.errors import ConfigError, DecryptionFailed

KEY = bytes(range(32))
B64_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
PURPOSE = b"signing-key:EdDSA:kid-1"


def dev(tmp_path: Path) -> Settings:
    return Settings(mode="dev", data_dir=tmp_path / "data")


def production(tmp_path: Path) -> Settings:
    return Settings(mode="production", data_dir=tmp_path / "data")


# -- the master key ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", [B64_KEY, B64_KEY + "=", KEY.hex(), KEY.hex().upper(), f"  {B64_KEY}\n"])
def test_the_master_key_reads_base64url_or_hex(text: str) -> None:
    assert parse_master_key(text, MASTER_KEY_ENV) == KEY


@pytest.mark.parametrize(
    "text",
    [
        "short",
        "correct horse battery staple correct horse battery",
        KEY.hex()[:-2],  # 31 bytes
        (KEY + b"\x00").hex(),  # 33 bytes
        B64_KEY[:-1],
        B64_KEY.replace("A", "+"),  # standard, not url-safe, base64
        "",
    ],
)
def test_anything_else_names_the_variable_and_the_format_without_echoing_it(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_master_key(text, MASTER_KEY_ENV)
    message = str(caught.value)
    assert MASTER_KEY_ENV in message
    assert "base64url" in message
    assert "hex" in message
    assert GENERATE_HINT in message
    if len(text) > 4:
        assert text.strip() not in message


def test_the_key_comes_from_the_environment(tmp_path: Path) -> None:
    assert load_master_key(production(tmp_path), {MASTER_KEY_ENV: B64_KEY}) == KEY


def test_the_key_comes_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text(KEY.hex() + "\n")
    path.chmod(0o600)
    assert load_master_key(production(tmp_path), {MASTER_KEY_FILE_ENV: str(path)}) == KEY


def test_a_key_file_others_can_read_is_warned_about(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "secret"
    path.write_text(B64_KEY)
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="rowgate.crypto"):
        assert load_master_key(production(tmp_path), {MASTER_KEY_FILE_ENV: str(path)}) == KEY
    assert "chmod 600" in caplog.text


def test_a_missing_key_file_is_a_config_error_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=MASTER_KEY_FILE_ENV):
        load_master_key(production(tmp_path), {MASTER_KEY_FILE_ENV: str(tmp_path / "absent")})


def test_a_bad_key_file_names_the_variable(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("not a key")
    with pytest.raises(ConfigError, match=MASTER_KEY_FILE_ENV):
        load_master_key(production(tmp_path), {MASTER_KEY_FILE_ENV: str(path)})


def test_both_variables_set_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text(B64_KEY)
    with pytest.raises(ConfigError, match="set only one"):
        load_master_key(production(tmp_path), {MASTER_KEY_ENV: B64_KEY, MASTER_KEY_FILE_ENV: str(path)})


def test_production_without_a_key_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_master_key(production(tmp_path), {})
    assert MASTER_KEY_ENV in str(caught.value)
    assert GENERATE_HINT in str(caught.value)
    assert not (tmp_path / "data").exists()


def test_dev_mode_generates_a_private_key_file_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="rowgate.crypto"):
        first = load_master_key(dev(tmp_path), {})
    second = load_master_key(dev(tmp_path), {})
    path = tmp_path / "data" / "master.key"
    assert first == second
    assert len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert parse_master_key(path.read_text(), str(path)) == first
    assert "development only" in caplog.text
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_dev_mode_keeps_an_existing_key_file(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir(mode=0o700)
    (folder / "master.key").write_text(B64_KEY)
    (folder / "master.key").chmod(0o600)
    assert load_master_key(dev(tmp_path), {}) == KEY


def test_an_empty_variable_counts_as_unset(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=MASTER_KEY_ENV):
        load_master_key(production(tmp_path), {MASTER_KEY_ENV: "", MASTER_KEY_FILE_ENV: ""})


# -- the box ----------------------------------------------------------------------------------


def test_sealed_data_opens_with_the_same_key_and_purpose() -> None:
    box = SecretBox(KEY)
    sealed = box.seal(b"private key bytes", PURPOSE)
    assert box.open(sealed, PURPOSE) == b"private key bytes"
    assert SecretBox(KEY).open(sealed, PURPOSE) == b"private key bytes"


def test_the_format_is_version_nonce_ciphertext_tag() -> None:
    sealed = SecretBox(KEY).seal(b"x" * 10, PURPOSE)
    assert sealed[0] == 1
    assert len(sealed) == 1 + 12 + 10 + 16
    assert b"x" * 10 not in sealed


def test_every_seal_uses_a_fresh_nonce() -> None:
    box = SecretBox(KEY)
    sealed = {box.seal(b"same", PURPOSE) for _ in range(50)}
    assert len(sealed) == 50
    assert len({s[1:13] for s in sealed}) == 50


def test_the_wrong_master_key_is_a_clear_error() -> None:
    sealed = SecretBox(KEY).seal(b"secret", PURPOSE)
    with pytest.raises(DecryptionFailed, match="master key"):
        SecretBox(secrets.token_bytes(32)).open(sealed, PURPOSE)


def test_another_purpose_does_not_open() -> None:
    sealed = SecretBox(KEY).seal(b"secret", PURPOSE)
    with pytest.raises(DecryptionFailed):
        SecretBox(KEY).open(sealed, b"signing-key:EdDSA:kid-2")
    with pytest.raises(DecryptionFailed):
        SecretBox(KEY).open(sealed, b"totp:kid-1")


def test_any_altered_byte_is_detected() -> None:
    box = SecretBox(KEY)
    sealed = box.seal(b"secret value", PURPOSE)
    for position in range(len(sealed)):
        altered = bytearray(sealed)
        altered[position] ^= 0x01
        with pytest.raises(DecryptionFailed):
            box.open(bytes(altered), PURPOSE)


@pytest.mark.parametrize("sealed", [b"", b"\x01", b"\x01" + b"\x00" * 27, b"\x02" + b"\x00" * 40])
def test_truncated_or_unknown_versions_are_refused(sealed: bytes) -> None:
    with pytest.raises(DecryptionFailed):
        SecretBox(KEY).open(sealed, PURPOSE)


def test_the_box_never_shows_its_key() -> None:
    assert KEY.hex() not in repr(SecretBox(KEY))
    with pytest.raises(ValueError, match="32 bytes"):
        SecretBox(KEY[:16])


@given(plaintext=st.binary(max_size=512), purpose=st.binary(max_size=64))
def test_seal_then_open_is_the_identity(plaintext: bytes, purpose: bytes) -> None:
    box = SecretBox(KEY)
    assert box.open(box.seal(plaintext, purpose), purpose) == plaintext
