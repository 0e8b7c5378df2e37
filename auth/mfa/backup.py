"""Backup codes: ten single-use codes shown once, stored as SHA-256 digests.

A code is 10 characters of the RFC 4648 base32 alphabet in lower case (50 random bits), shown
as two groups of five (``k3m9q-x7v2a``).  Input is forgiving: case, spaces and dashes are ignored.
Guessing is bounded by the account lockout: ten codes of 50 bits leave an attacker with a few
guesses per lock no real chance.
"""

from __future__ import annotations

import hashlib
import re
import secrets

COUNT = 10
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_LENGTH = 10
_CODE = re.compile(r"[a-z2-7]{10}")


def new_codes(count: int = COUNT) -> list[str]:
    """``count`` fresh codes, as stored (``display`` formats them for the user)."""
    return ["".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH)) for _ in range(count)]


def normalize(text: str) -> str | None:
    """The code's 10 characters as stored, or None when ``text`` cannot be a backup code."""
    code = "".join(text.split()).replace("-", "").lower()
    return code if _CODE.fullmatch(code) else None


def digest(code: str) -> bytes:
    """The digest of a normalised code (the codes are random: a plain SHA-256 suffices)."""
    return hashlib.sha256(b"rowgate-backup-code:" + code.encode("ascii")).digest()


def display(code: str) -> str:
    """``k3m9qx7v2a`` → ``k3m9q-x7v2a``."""
    return f"{code[:5]}-{code[5:]}"
