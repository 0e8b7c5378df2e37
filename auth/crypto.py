"""The master key, and the box that seals secrets at rest with it (AES-256-GCM).

Signing private keys and TOTP secrets are stored sealed under one 32-byte master key that never
touches the database.  It comes from the environment:

* ``ROWGATE_MASTER_KEY``: the key itself, as base64url (43 characters) or hex (64 characters);
* ``ROWGATE_MASTER_KEY_FILE``: a file holding it in the same form (Docker/Kubernetes secrets);
* neither, in ``mode: dev`` only: a key generated once into ``<data_dir>/master.key`` (mode 0600).

Sealed format, version 1::

    0x01 | nonce (12 random bytes) | AES-256-GCM ciphertext | tag (16 bytes)

The associated data names what the plaintext is (``purpose``, e.g. ``signing-key:EdDSA:<kid>``), so
a sealed value copied into another row or column does not open there.  The version byte lets the
format evolve (another cipher, a key id for master-key rotation) without guessing.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rowgate.config.schema import Settings
from rowgate.errors import ConfigError, DecryptionFailed

log = logging.getLogger("rowgate.crypto")

MASTER_KEY_ENV = "ROWGATE_MASTER_KEY"
MASTER_KEY_FILE_ENV = "ROWGATE_MASTER_KEY_FILE"
DEV_KEY_FILE = "master.key"
KEY_SIZE = 32
GENERATE_HINT = 'python -c "import secrets;print(secrets.token_urlsafe(32))"'

_VERSION_1 = 1
_NONCE_SIZE = 12
_TAG_SIZE = 16
_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")
_B64URL_KEY = re.compile(r"[A-Za-z0-9_-]{43}=?")


def parse_master_key(text: str, source: str) -> bytes:
    """The 32 key bytes encoded in ``text`` (base64url or hex); ``source`` names where it came from."""
    value = text.strip()
    if _HEX_KEY.fullmatch(value):
        return bytes.fromhex(value)
    if _B64URL_KEY.fullmatch(value):
        return base64.urlsafe_b64decode(value.rstrip("=") + "=")
    # Never echo the value: it is (or was meant to be) a secret.
    raise ConfigError(
        [
            f"{source}: expected 32 random bytes as base64url (43 characters) or hex (64 characters), "
            f"got {len(value)} characters; generate one with: {GENERATE_HINT}"
        ]
    )


def load_master_key(settings: Settings, environ: Mapping[str, str] | None = None) -> bytes:
    """The master key from the environment, or in dev mode from (or generated into) the data folder."""
    key = environment_master_key(settings, environ)
    return key if key is not None else _dev_master_key(settings.data_dir)


def environment_master_key(settings: Settings, environ: Mapping[str, str] | None = None) -> bytes | None:
    """The master key the environment gives; ``None`` in dev mode when it gives none.  A
    ``ConfigError`` for a key that is malformed, unreadable, given twice, or missing in production.
    Reads no file of the data folder: ``check-config`` asks this without side effects."""
    env = os.environ if environ is None else environ
    inline, file = env.get(MASTER_KEY_ENV, ""), env.get(MASTER_KEY_FILE_ENV, "")
    if inline and file:
        raise ConfigError([f"{MASTER_KEY_ENV} and {MASTER_KEY_FILE_ENV} are both set; set only one of them"])
    if inline:
        return parse_master_key(inline, MASTER_KEY_ENV)
    if file:
        return _read_key_file(Path(file), f"{MASTER_KEY_FILE_ENV} ({file})")
    if settings.mode == "production":
        raise ConfigError(
            [
                f"{MASTER_KEY_ENV}: not set.  Production mode needs a master key to encrypt signing keys "
                f"and MFA secrets.  Generate one with: {GENERATE_HINT}  and pass it as {MASTER_KEY_ENV} "
                f"or in a file named by {MASTER_KEY_FILE_ENV}.  Keep a copy somewhere safe: without it "
                "the stored signing keys and MFA secrets cannot be read."
            ]
        )
    return None


def _read_key_file(path: Path, source: str) -> bytes:
    try:
        text = path.read_text(encoding="ascii")
        mode = path.stat().st_mode
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{source}: cannot read the master key file ({type(exc).__name__})"]) from exc
    if mode & 0o077:
        log.warning("the master key file %s can be read by other users; chmod 600 it", path)
    return parse_master_key(text, source)


def _dev_master_key(data_dir: Path) -> bytes:
    """The development key in ``data_dir``, created on first use (0600 in a 0700 folder)."""
    path = data_dir / DEV_KEY_FILE
    if not path.exists():
        _create_dev_key(path)
    log.warning(
        "using the development master key %s: for development only; set %s (or %s) in production",
        path,
        MASTER_KEY_ENV,
        MASTER_KEY_FILE_ENV,
    )
    return _read_key_file(path, str(path))


def _create_dev_key(path: Path) -> None:
    """Write a new key atomically: two instances starting at once end up sharing one key."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (secrets.token_urlsafe(KEY_SIZE) + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(temporary, path)  # fails if another instance won the race: theirs is kept
        log.warning("generated a development master key in %s (development only)", path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()


class SecretBox:
    """Seal and open small secrets with AES-256-GCM under the master key."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_SIZE:
            raise ValueError(f"the master key must be {KEY_SIZE} bytes, got {len(key)}")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "SecretBox(<master key hidden>)"

    def seal(self, plaintext: bytes, purpose: bytes) -> bytes:
        """``plaintext`` encrypted and authenticated; it opens only with the same ``purpose``."""
        nonce = secrets.token_bytes(_NONCE_SIZE)
        header = bytes([_VERSION_1])
        return header + nonce + self._aead.encrypt(nonce, plaintext, header + purpose)

    def open(self, sealed: bytes, purpose: bytes) -> bytes:
        """The plaintext of ``sealed``; DecryptionFailed if it was altered or sealed otherwise."""
        if len(sealed) < 1 + _NONCE_SIZE + _TAG_SIZE:
            raise DecryptionFailed("Sealed data is truncated.")
        if sealed[0] != _VERSION_1:
            raise DecryptionFailed(f"Sealed data has an unknown format version ({sealed[0]}).")
        nonce, body = sealed[1 : 1 + _NONCE_SIZE], sealed[1 + _NONCE_SIZE :]
        try:
            return self._aead.decrypt(nonce, body, sealed[:1] + purpose)
        except InvalidTag as exc:
            raise DecryptionFailed(
                "Sealed data does not open: the master key is not the one that sealed it, "
                "or the data was altered or belongs to something else."
            ) from exc
