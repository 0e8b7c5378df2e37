"""Opaque secrets: refresh, verification, reset (and later magic-link and invitation) tokens.

They are random strings with 256 bits of entropy, handed out once and stored only as their
SHA-256 digest.  A token is looked up by its digest, so no stored value can be replayed and no
comparison leaks timing about a stored secret.
"""

from __future__ import annotations

import hashlib
import secrets

#: Longest string accepted where a token is expected (ours are 43 characters).
MAX_TOKEN_LENGTH = 512


def new_token() -> str:
    """A fresh URL-safe random token (32 bytes of entropy)."""
    return secrets.token_urlsafe(32)


def digest(token: str) -> bytes:
    """The SHA-256 digest under which ``token`` is stored."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def key_digest(value: str) -> str:
    """A short stable digest for keys in the ephemeral store (so it holds no email addresses)."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]
