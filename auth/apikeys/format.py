"""The shape of an API key (pure): ``rg_sk_`` or ``rg_pk_``, 40 random base62 characters, and a
6-character checksum.

    rg_sk_7Hq2...(40)...Zp  Ab12Cd
    └type┘└── random ──────┘└crc─┘

The random part carries 238 bits of entropy, so the key is stored only as its SHA-256 digest and
looked up by it (no salt is needed for a secret nobody could guess).  The checksum (CRC-32 of
everything before it) lets rowgate refuse a mistyped or truncated key without touching its cache
or the database, and lets secret scanners recognise real keys.  The visible ``prefix`` (type and
the first 8 random characters) is kept in clear so people can tell their keys apart.
"""

from __future__ import annotations

import hashlib
import secrets
import string
import zlib
from dataclasses import dataclass
from typing import Final, Literal

KeyType = Literal["secret", "publishable"]

ALPHABET: Final = string.digits + string.ascii_uppercase + string.ascii_lowercase
TYPE_PREFIXES: Final[dict[str, KeyType]] = {"rg_sk_": "secret", "rg_pk_": "publishable"}
PREFIX_OF: Final[dict[KeyType, str]] = {kind: prefix for prefix, kind in TYPE_PREFIXES.items()}
RANDOM_LENGTH: Final = 40
CHECKSUM_LENGTH: Final = 6
VISIBLE_LENGTH: Final = 8
KEY_LENGTH: Final = 6 + RANDOM_LENGTH + CHECKSUM_LENGTH
_CHARS: Final = frozenset(ALPHABET)


@dataclass(frozen=True, slots=True)
class NewKey:
    text: str = ""
    kind: KeyType = "secret"
    prefix: str = ""
    digest: bytes = b""

    def __repr__(self) -> str:  # never show the key itself, even in a debugger or a log line
        return f"NewKey(kind={self.kind!r}, prefix={self.prefix!r})"


def generate(kind: KeyType) -> NewKey:
    """A fresh key of ``kind`` with its visible prefix and digest."""
    body = PREFIX_OF[kind] + "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    text = body + _checksum(body)
    return NewKey(text, kind, text[: 6 + VISIBLE_LENGTH], digest(text))


def parse(text: str) -> KeyType | None:
    """The type of a well-formed key (right length, alphabet and checksum); None otherwise."""
    if len(text) != KEY_LENGTH:
        return None
    kind = TYPE_PREFIXES.get(text[:6])
    if kind is None or not _CHARS.issuperset(text[6:]):
        return None
    body, check = text[:-CHECKSUM_LENGTH], text[-CHECKSUM_LENGTH:]
    if not secrets.compare_digest(_checksum(body), check):
        return None
    return kind


def digest(text: str) -> bytes:
    """The SHA-256 digest a key is stored and looked up under."""
    return hashlib.sha256(text.encode("ascii")).digest()


def _checksum(body: str) -> str:
    value = zlib.crc32(body.encode("ascii"))
    chars = []
    for _ in range(CHECKSUM_LENGTH):
        value, rest = divmod(value, 62)
        chars.append(ALPHABET[rest])
    return "".join(reversed(chars))
