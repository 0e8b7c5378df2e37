"""Signing keys as values: generation, serialisation, public JWKs, and the ``KeyRing``.

A ``SigningKey`` holds parsed key objects (never PEM re-read per call) and the algorithm it was
made for.  Verification always takes the algorithm from the key found by ``kid``: a token's ``alg``
header is only ever compared with it.  For HS256 the key is 32 random bytes that are never
published, so a public key can never be used as an HMAC secret.

A ``KeyRing`` is an immutable snapshot: the active key that signs, and every key that verifies
and is published: the next key (announced ahead, not signing yet), the active ones, and retiring
ones until their ``usable_until`` (see ``auth.tokens.lifecycle`` for the states).  A new snapshot replaces
it when keys change (see ``auth.tokens.keystore``).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import Algorithm, get_default_algorithms

ALGORITHMS: Final = ("EdDSA", "ES256", "RS256", "HS256")
RSA_BITS: Final = 3072
HMAC_BYTES: Final = 32
#: JWK members that may be published; anything else (d, p, q, dp, dq, qi, k, oth) never is.
PUBLIC_JWK_MEMBERS: Final = frozenset({"kty", "crv", "x", "y", "n", "e"})
#: The states of a key that verifies (a ``retired`` key is never loaded).
State = Literal["next", "active", "retiring"]
_JWKS_ORDER: Final = {"active": 0, "next": 1, "retiring": 2}

_IMPLEMENTATIONS: Final[Mapping[str, Algorithm]] = {
    name: impl for name, impl in get_default_algorithms().items() if name in ALGORITHMS
}


@dataclass(frozen=True, slots=True, eq=False)
class SigningKey:
    """One key: its id, its algorithm, parsed key objects, its state and until when it verifies."""

    kid: str
    algorithm: str
    private: Any = field(repr=False)  # cryptography private key, or the HMAC secret
    public: Any = field(repr=False)  # cryptography public key, or the same HMAC secret
    impl: Algorithm = field(repr=False)
    #: ``None`` unless retiring; then the epoch second after which it no longer verifies.
    usable_until: float | None = None
    state: State = "active"

    @property
    def active(self) -> bool:
        return self.state == "active"

    def usable(self, now: float) -> bool:
        return self.usable_until is None or now < self.usable_until

    def sign(self, signing_input: bytes) -> bytes:
        signature: bytes = self.impl.sign(signing_input, self.private)
        return signature

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        """True when ``signature`` is valid (constant-time for HMAC; degenerate ECDSA refused)."""
        return bool(self.impl.verify(signing_input, self.public, signature))

    def public_jwk(self) -> dict[str, str] | None:
        """The public JWK (``kid``, ``alg``, ``use`` added); None for HS256, which has no public part."""
        if self.algorithm == "HS256":
            return None
        raw = self.impl.to_jwk(self.public, as_dict=True)
        jwk = {name: str(value) for name, value in raw.items() if name in PUBLIC_JWK_MEMBERS}
        return {**jwk, "kid": self.kid, "alg": self.algorithm, "use": "sig"}

    def retired(self, usable_until: float) -> SigningKey:
        """This key, retiring: it verifies until ``usable_until`` and no longer signs."""
        return SigningKey(
            self.kid, self.algorithm, self.private, self.public, self.impl, usable_until, "retiring"
        )

    def upcoming(self) -> SigningKey:
        """This key as the next one: published and verifying, not signing yet."""
        return SigningKey(self.kid, self.algorithm, self.private, self.public, self.impl, None, "next")


def new_kid() -> str:
    """A random key id (16 bytes, base64url): never derived from anything a client controls."""
    return secrets.token_urlsafe(16)


def generate_key(algorithm: str, kid: str | None = None) -> SigningKey:
    """A fresh active key for ``algorithm`` (Ed25519, P-256, RSA-3072 or 32 random HMAC bytes)."""
    private: Any
    if algorithm == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
    elif algorithm == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif algorithm == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    elif algorithm == "HS256":
        private = secrets.token_bytes(HMAC_BYTES)
    else:
        raise ValueError(f"unsupported signing algorithm {algorithm!r}; expected one of {ALGORITHMS}")
    return _make(kid or new_kid(), algorithm, private, None)


def private_bytes(key: SigningKey) -> bytes:
    """The private part, serialised for sealing: PKCS#8 DER, or the raw HMAC secret."""
    if key.algorithm == "HS256":
        return bytes(key.private)
    data: bytes = key.private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return data


def load_key(
    kid: str, algorithm: str, data: bytes, usable_until: float | None = None, state: State | None = None
) -> SigningKey:
    """The key serialised by ``private_bytes``; ValueError if it is not a key for ``algorithm``.

    ``state`` defaults to ``retiring`` when ``usable_until`` is given, else ``active``.
    """
    state = state or ("active" if usable_until is None else "retiring")
    if algorithm == "HS256":
        if len(data) != HMAC_BYTES:
            raise ValueError(f"an HS256 secret is {HMAC_BYTES} random bytes")
        return _make(kid, algorithm, bytes(data), usable_until, state)
    private = serialization.load_der_private_key(data, password=None)
    if not _fits(algorithm, private):
        raise ValueError(f"the stored private key is not a {algorithm} key")
    return _make(kid, algorithm, private, usable_until, state)


def _fits(algorithm: str, private: object) -> bool:
    if algorithm == "EdDSA":
        return isinstance(private, ed25519.Ed25519PrivateKey)
    if algorithm == "ES256":
        return isinstance(private, ec.EllipticCurvePrivateKey) and isinstance(private.curve, ec.SECP256R1)
    if algorithm == "RS256":
        return isinstance(private, rsa.RSAPrivateKey) and private.key_size >= 2048
    return False


def _make(
    kid: str, algorithm: str, private: Any, usable_until: float | None, state: State = "active"
) -> SigningKey:
    public = private if algorithm == "HS256" else private.public_key()
    return SigningKey(kid, algorithm, private, public, _IMPLEMENTATIONS[algorithm], usable_until, state)


@dataclass(frozen=True, eq=False)
class KeyRing:
    """The key that signs and every key that verifies, as one immutable snapshot."""

    signing: SigningKey
    keys: Mapping[str, SigningKey]

    @classmethod
    def of(cls, signing: SigningKey, others: Iterable[SigningKey] = ()) -> KeyRing:
        """A ring signing with ``signing`` (which must be active) and verifying with all keys given."""
        if not signing.active:
            raise ValueError("the signing key of a KeyRing must be active")
        keys = {key.kid: key for key in others}
        keys[signing.kid] = signing
        return cls(signing, keys)

    def find(self, kid: str, now: float) -> SigningKey | None:
        """The key named ``kid`` if it still verifies at ``now``."""
        key = self.keys.get(kid)
        if key is None or not key.usable(now):
            return None
        return key

    def jwks(self, now: float | None = None) -> dict[str, list[dict[str, str]]]:
        """The JWK Set to publish: public members of every key that still verifies (none for HS256)."""
        now = time.time() if now is None else now
        published = []
        for key in sorted(self.keys.values(), key=lambda k: (_JWKS_ORDER[k.state], k.kid)):
            jwk = key.public_jwk() if key.usable(now) else None
            if jwk is not None:
                published.append(jwk)
        return {"keys": published}

    @property
    def algorithms(self) -> frozenset[str]:
        """The algorithms of the keys in this ring (what the verifier may accept)."""
        return frozenset(key.algorithm for key in self.keys.values())

    def same_as(self, other: KeyRing) -> bool:
        """True when both rings sign with the same key and verify the same keys until the same time."""
        return self.signing.kid == other.signing.kid and _state(self) == _state(other)


def _state(ring: KeyRing) -> dict[str, tuple[str, float | None, str]]:
    return {kid: (key.algorithm, key.usable_until, key.state) for kid, key in ring.keys.items()}
