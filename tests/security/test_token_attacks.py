"""Attacks on access-token verification, one named case each: every one must be refused.

The ring under attack signs with EdDSA and, as after an algorithm change, still verifies with
ES256, RS256 and HS256 keys; one more retired key's window has closed.  ``forge`` crafts each token
exactly as described (tests/keykit.py); ``test_the_forge_makes_tokens_that_verify`` proves that the
same forge, left alone, makes tokens that pass, so each refusal below is the attack's doing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st
from jwt.algorithms import get_default_algorithms

from rowgate.auth.tokens.keys import KeyRing, SigningKey
from rowgate.errors import InvalidToken, TokenExpired
from rowgate.proxy.problem import status_of
from tests import keykit
from tests.keykit import DELETE, NOW, b64, b64json, forge, header_for, valid_claims

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def ed() -> SigningKey:
    return keykit.key("EdDSA")


def es() -> SigningKey:
    return keykit.key("ES256")


def rs() -> SigningKey:
    return keykit.key("RS256")


def hs() -> SigningKey:
    return keykit.key("HS256")


def attacker() -> SigningKey:
    return keykit.key("EdDSA", "attacker")


def expired_key() -> SigningKey:
    return keykit.key("EdDSA", "expired")


MASTER_KEY = secrets.token_bytes(32)  # another purpose's secret, e.g. the master key


def ring() -> KeyRing:
    window = NOW + 3600
    retired = [key.retired(window) for key in (es(), rs(), hs())]
    return KeyRing.of(ed(), [*retired, expired_key().retired(NOW - 1)])


# -- how the attacker signs --------------------------------------------------------------------


def hmac_with(secret: bytes) -> Callable[[bytes], bytes]:
    return lambda data: hmac.new(secret, data, hashlib.sha256).digest()


def fixed(signature: bytes) -> Callable[[bytes], bytes]:
    return lambda _: signature


def pem(key: SigningKey) -> bytes:
    return bytes(
        key.public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def jwk_json(key: SigningKey) -> bytes:
    return json.dumps(key.public_jwk()).encode()


def raw(key: SigningKey) -> bytes:
    if isinstance(key.public, ec.EllipticCurvePublicKey):
        encoding, format_ = serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    elif key.algorithm == "EdDSA":
        encoding, format_ = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    else:
        encoding, format_ = serialization.Encoding.DER, serialization.PublicFormat.PKCS1
    return bytes(key.public.public_bytes(encoding, format_))


def ecdsa(r: int, s: int) -> Callable[[bytes], bytes]:
    return fixed(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def with_header(**overrides: object) -> str:
    return forge(header=header_for(ed(), **overrides))


def with_claims(**overrides: object) -> str:
    return forge(valid_claims(**overrides))


def by(signer: SigningKey, **header: object) -> str:
    """A token signed by ``signer`` (its own kid and alg unless ``header`` says otherwise)."""
    return forge(header=header_for(signer, **header), signer=signer)


def as_ours(signer: SigningKey, **header: object) -> str:
    """A token naming our EdDSA key (kid and alg) but signed by ``signer``."""
    return forge(header=header_for(ed(), **header), signer=signer)


def hmac_token(named: SigningKey, secret: bytes, **header: object) -> str:
    """A token naming ``named``'s key but HS256-signed with ``secret``."""
    return forge(header=header_for(named, **header), sign=hmac_with(secret))


def raw_payload(payload: bytes) -> str:
    signing_input = f"{b64json(header_for(ed()))}.{b64(payload)}"
    return f"{signing_input}.{b64(ed().sign(signing_input.encode()))}"


def swap_last_char_bits(token: str) -> str:
    """The same signature bytes, spelt non-canonically (the unused low bits of the last character)."""
    last = B64URL[B64URL.index(token[-1]) ^ 1]
    return token[:-1] + last


def splice(token: str, part: int, replacement: str) -> str:
    parts = token.split(".")
    parts[part] = replacement
    return ".".join(parts)


def flip(text: str, index: int) -> str:
    return text[:index] + ("B" if text[index] == "A" else "A") + text[index + 1 :]


# -- the table -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attack:
    name: str
    token: Callable[[], str]
    refused_as: type[InvalidToken] = InvalidToken


ATTACKS = [
    # alg none, in any spelling, with or without a signature
    *(
        Attack(f"alg {spelling}", lambda s=spelling: forge(header=header_for(ed(), alg=s), sign=fixed(b"")))
        for spelling in ("none", "None", "NONE", "nOnE")
    ),
    Attack("alg none with a real signature", lambda: with_header(alg="none")),
    Attack("alg missing", lambda: with_header(alg=DELETE)),
    Attack("alg empty", lambda: with_header(alg="")),
    Attack("alg not a string", lambda: with_header(alg=["EdDSA"])),
    Attack("alg of another key than kid's", lambda: forge(header=header_for(es(), alg="EdDSA"), signer=ed())),
    Attack("alg ES384 on an ES256 key, validly signed by it", lambda: by(es(), alg="ES384")),
    Attack("alg HS256 on the EdDSA key, validly signed by it", lambda: by(ed(), alg="HS256")),
    Attack("alg in another case, validly signed", lambda: by(ed(), alg="EDDSA")),
    Attack(
        "RS512 on an RS256 key",
        lambda: forge(
            header=header_for(rs(), alg="RS512"),
            sign=lambda data: get_default_algorithms()["RS512"].sign(data, rs().private),
        ),
    ),
    # key confusion: a public key used as an HMAC secret
    *(
        Attack(
            f"HS256 with the {alg} public key as {form_name}",
            lambda k=key_of, f=form: forge(header=header_for(k(), alg="HS256"), sign=hmac_with(f(k()))),
        )
        for alg, key_of in (("EdDSA", ed), ("ES256", es), ("RS256", rs))
        for form_name, form in (("PEM", pem), ("JWK JSON", jwk_json), ("raw bytes", raw))
    ),
    Attack(
        "HS256 key's kid, signed with the EdDSA public key",
        lambda: forge(header=header_for(hs()), sign=hmac_with(pem(ed()))),
    ),
    Attack(
        "HS256 without kid, signed with the EdDSA public key",
        lambda: forge(header=header_for(ed(), alg="HS256", kid=DELETE), sign=hmac_with(pem(ed()))),
    ),
    # kid
    Attack("kid path traversal", lambda: by(attacker(), kid="../../etc/passwd")),
    Attack("kid SQL injection", lambda: by(attacker(), kid="' OR 1=1 --")),
    Attack("kid of 10 KB", lambda: by(attacker(), kid="A" * 10240)),
    Attack("kid of 100 characters", lambda: by(attacker(), kid="A" * 100)),
    Attack("kid with a NUL byte", lambda: by(attacker(), kid=ed().kid + "\x00")),
    Attack("kid empty", lambda: by(attacker(), kid="")),
    Attack("kid missing", lambda: by(ed(), kid=DELETE)),
    Attack("kid a number", lambda: by(ed(), kid=1)),
    Attack("kid a list", lambda: by(ed(), kid=[ed().kid])),
    Attack("kid null", lambda: by(ed(), kid=None)),
    Attack("kid unknown", lambda: by(attacker())),
    Attack("kid known, signed by another key", lambda: as_ours(attacker())),
    Attack("kid of a retired key past its window", lambda: by(expired_key())),
    Attack("kid of another purpose's secret", lambda: hmac_token(hs(), MASTER_KEY, kid="master")),
    Attack("HS256 kid, signed with another purpose's secret", lambda: hmac_token(hs(), MASTER_KEY)),
    # headers that carry or locate a key
    Attack("jku to an attacker's key set", lambda: by(attacker(), jku="https://attacker.example/jwks.json")),
    Attack("jku with our kid", lambda: as_ours(attacker(), jku="https://attacker.example/k")),
    Attack("x5u to an attacker's certificate", lambda: by(attacker(), x5u="https://attacker.example/cert.pem")),
    Attack("x5c with an attacker's certificate", lambda: by(attacker(), x5c=[b64(raw(attacker()))])),
    Attack("embedded jwk of the attacker", lambda: by(attacker(), jwk=attacker().public_jwk())),
    Attack("embedded jwk with our kid", lambda: as_ours(attacker(), jwk=attacker().public_jwk())),
    Attack("embedded jwk on an otherwise valid token", lambda: with_header(jwk=ed().public_jwk())),
    Attack("x5t on an otherwise valid token", lambda: with_header(x5t="AAAA")),
    # critical extensions and unknown parameters
    Attack("crit exp", lambda: with_header(crit=["exp"], exp=NOW + 600)),
    Attack("crit b64", lambda: with_header(crit=["b64"], b64=False)),
    Attack("crit empty", lambda: with_header(crit=[])),
    Attack("unknown header parameter", lambda: with_header(cty="JWT")),
    # typ: only access tokens are access tokens
    Attack("typ JWT", lambda: with_header(typ="JWT")),
    Attack("typ missing", lambda: with_header(typ=DELETE)),
    Attack("typ refresh", lambda: with_header(typ="refresh+jwt")),
    Attack("typ a list", lambda: with_header(typ=["at+jwt"])),
    Attack(
        "an ID token used as an access token",
        lambda: keykit.service(ring())
        .issue_id(sub="user-1", sid="session-1", email="a@example.com", email_verified=True, auth_time=NOW)
        .token,
    ),
    # time
    Attack("expired", lambda: with_claims(exp=NOW - 31), TokenExpired),
    Attack("not yet valid", lambda: with_claims(nbf=NOW + 31)),
    Attack("issued in the future", lambda: with_claims(iat=NOW + 31)),
    # issuer and audience
    Attack("wrong issuer", lambda: with_claims(iss="https://attacker.example")),
    Attack("issuer with a trailing slash", lambda: with_claims(iss=keykit.ISSUER + "/")),
    Attack("wrong audience", lambda: with_claims(aud="another-app")),
    Attack("audience list", lambda: with_claims(aud=[keykit.AUDIENCE, "another-app"])),
    # tampering
    Attack(
        "tampered payload",
        lambda: splice(with_claims(), 1, b64json(valid_claims(sub="admin", role="owner"))),
    ),
    Attack("tampered signature", lambda: splice(with_claims(), 2, flip(with_claims().split(".")[2], 0))),
    Attack("signature of another token", lambda: splice(with_claims(), 2, with_claims(sub="b")[-86:])),
    Attack("signature truncated", lambda: with_claims()[:-4]),
    Attack("signature empty", lambda: splice(with_claims(), 2, "")),
    Attack("signature spelt non-canonically", lambda: swap_last_char_bits(with_claims())),
    Attack("Ed25519 zero signature", lambda: forge(sign=fixed(bytes(64)))),
    Attack("ES256 zero signature r=s=0", lambda: forge(header=header_for(es()), sign=ecdsa(0, 0))),
    Attack("ES256 r=0 s=1", lambda: forge(header=header_for(es()), sign=ecdsa(0, 1))),
    Attack("ES256 r=s=n", lambda: forge(header=header_for(es()), sign=ecdsa(P256_ORDER, P256_ORDER))),
    Attack(
        "ES256 signature in DER form",
        lambda: forge(
            header=header_for(es()),
            sign=lambda data: es().private.sign(data, ec.ECDSA(es().impl.hash_alg())),
        ),
    ),
    Attack("RS256 zero signature", lambda: forge(header=header_for(rs()), sign=fixed(bytes(384)))),
    # shape and size
    Attack("1 MB token", lambda: "a" * 1_000_000),
    Attack("1 MB well-formed token", lambda: f"{b64json(header_for(ed()))}.{'A' * 1_000_000}.AAAA"),
    Attack("validly signed but over 8 KB", lambda: with_claims(pad="x" * 9000)),
    Attack("non-base64 garbage", lambda: "!!!.@@@.###"),
    Attack("empty", lambda: ""),
    Attack("two segments", lambda: ".".join(with_claims().split(".")[:2])),
    Attack("five segments (JWE)", lambda: with_claims() + ".AAAA.AAAA"),
    Attack("padding", lambda: with_claims() + "=="),
    Attack("standard base64 characters", lambda: with_claims().replace("-", "+").replace("_", "/") + "+/"),
    Attack("trailing space", lambda: with_claims() + " "),
    Attack("non-ASCII", lambda: with_claims() + "é"),
    Attack("header not JSON", lambda: splice(with_claims(), 0, b64(b"not json"))),
    Attack("header a JSON array", lambda: splice(with_claims(), 0, b64(b'["EdDSA"]'))),
    Attack("header deeply nested", lambda: splice(with_claims(), 0, b64(b"[" * 5000))),
    Attack("header invalid UTF-8", lambda: splice(with_claims(), 0, b64(b'{"alg":"\xff"}'))),
    Attack("payload not JSON, validly signed", lambda: raw_payload(b"not json")),
    Attack("payload a JSON array, validly signed", lambda: raw_payload(b'["sub"]')),
    # required claims
    *(
        Attack(f"missing {claim}", lambda c=claim: with_claims(**{c: DELETE}))
        for claim in ("sub", "sid", "jti", "exp", "iat", "nbf", "iss", "aud", "client_id", "amr")
    ),
    # claim types
    Attack("exp a string", lambda: with_claims(exp=str(NOW + 600))),
    Attack("exp a boolean", lambda: with_claims(exp=True)),
    Attack("exp a float", lambda: with_claims(exp=NOW + 600.5)),
    Attack("exp infinite", lambda: with_claims(exp=float("inf"))),
    Attack("iat a string", lambda: with_claims(iat="yesterday")),
    Attack("nbf null", lambda: with_claims(nbf=None)),
    Attack("sub a number", lambda: with_claims(sub=123)),
    Attack("sub empty", lambda: with_claims(sub="")),
    Attack("sid a number", lambda: with_claims(sid=5)),
    Attack("jti a list", lambda: with_claims(jti=["a"])),
    Attack("client_id null", lambda: with_claims(client_id=None)),
    Attack("iss a list", lambda: with_claims(iss=[keykit.ISSUER])),
    Attack("amr a string", lambda: with_claims(amr="pwd")),
    Attack("amr of numbers", lambda: with_claims(amr=[1])),
    Attack("org_id a number", lambda: with_claims(org_id=5)),
    Attack("role a list", lambda: with_claims(role=["admin"])),
    Attack("scope a list", lambda: with_claims(scope=["read"])),
    Attack("perms a string", lambda: with_claims(perms="*")),
]  # fmt: skip


def test_attack_names_are_unique() -> None:
    names = [attack.name for attack in ATTACKS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda attack: attack.name)
def test_the_attack_is_refused(attack: Attack) -> None:
    service = keykit.service(ring())
    token = attack.token()
    with pytest.raises(InvalidToken) as caught:
        service.verify_access(token)
    assert type(caught.value) is attack.refused_as
    assert status_of(caught.value) == 401
    assert len(caught.value.detail) < 200
    for segment in token.split("."):
        assert len(segment) < 8 or segment not in caught.value.detail  # never echoes the token
    assert len(service.cache) == 0


@pytest.mark.parametrize("signer", ["EdDSA", "ES256", "RS256", "HS256"])
def test_the_forge_makes_tokens_that_verify(signer: str) -> None:
    """The control: the attacks above fail because of what they change, not because of the forge."""
    service = keykit.service(ring())
    token = by(keykit.key(signer))
    assert service.verify_access(token).sub == "user-1"
    assert service.verify_access(with_claims(pad="x" * 5500)).sub == "user-1"  # big, under 8 KB


def test_a_bytes_token_is_refused() -> None:
    with pytest.raises(InvalidToken):
        keykit.service(ring()).verify_access(with_claims().encode())


@given(index=st.integers(min_value=0), character=st.sampled_from(B64URL + ".=+/ "))
def test_any_single_character_change_is_refused(index: int, character: str) -> None:
    token = TOKEN
    index %= len(token)
    if token[index] == character:
        return
    with pytest.raises(InvalidToken):
        keykit.service(ring()).verify_access(token[:index] + character + token[index + 1 :])


@given(text=st.text(max_size=300))
def test_arbitrary_text_is_refused_as_an_invalid_token(text: str) -> None:
    with pytest.raises(InvalidToken):
        keykit.service(ring()).verify_access(text)


TOKEN = with_claims()
