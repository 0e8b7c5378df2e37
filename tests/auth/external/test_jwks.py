"""Reading an external issuer's JWK Set as untrusted input, and which keys fit which algorithm."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from rowgate.auth.external.jwks import parse_jwks
from rowgate.auth.external.verify import unverified_issuer


def rsa_jwk(kid: str, bits: int = 2048, **extra: Any) -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    return {**RSAAlgorithm.to_jwk(key, as_dict=True), "kid": kid, **extra}


def ec_jwk(kid: str, curve: ec.EllipticCurve | None = None, **extra: Any) -> dict[str, Any]:
    key = ec.generate_private_key(curve or ec.SECP256R1()).public_key()
    return {**ECAlgorithm.to_jwk(key, as_dict=True), "kid": kid, **extra}


def test_usable_keys_are_kept_by_kid() -> None:
    okp = {
        **OKPAlgorithm.to_jwk(ed25519.Ed25519PrivateKey.generate().public_key(), as_dict=True),
        "kid": "ed",
    }
    keys = parse_jwks({"keys": [rsa_jwk("rsa"), ec_jwk("ec"), okp]})
    assert set(keys) == {"rsa", "ec", "ed"}
    assert keys["rsa"].fits("RS256")
    assert keys["rsa"].fits("PS384")
    assert not keys["rsa"].fits("ES256")
    assert keys["ec"].fits("ES256")
    assert not keys["ec"].fits("ES384")
    assert keys["ed"].fits("EdDSA")
    assert not keys["ed"].fits("RS256")


@pytest.mark.parametrize(
    ("name", "jwk"),
    [
        ("symmetric", {"kty": "oct", "kid": "k", "k": base64.urlsafe_b64encode(b"s" * 32).decode()}),
        ("no kid", {k: v for k, v in ec_jwk("x").items() if k != "kid"}),
        ("kid not a string", {**ec_jwk("x"), "kid": 7}),
        ("encryption key", ec_jwk("k", use="enc")),
        ("private member", {**ec_jwk("k"), "d": "AAAA"}),
        ("RSA under 2048 bits", rsa_jwk("k", bits=1024)),
        ("unknown curve", {**ec_jwk("k"), "crv": "P-999"}),
        ("broken coordinates", {**ec_jwk("k"), "x": "!!"}),
        ("not an object", "a string"),
    ],
)
def test_unusable_keys_are_skipped(name: str, jwk: Any) -> None:
    assert parse_jwks({"keys": [jwk, ec_jwk("good")]}).keys() == {"good"}, name


def test_an_alg_pinned_on_the_key_must_match() -> None:
    keys = parse_jwks({"keys": [rsa_jwk("r", alg="RS256")]})
    assert keys["r"].fits("RS256")
    assert not keys["r"].fits("PS256")


@pytest.mark.parametrize("document", [[], {"keys": "x"}, {"nokeys": []}, "x", None])
def test_a_document_that_is_no_key_set_is_refused(document: Any) -> None:
    with pytest.raises(ValueError, match="not a JWK Set"):
        parse_jwks(document)


@pytest.mark.parametrize(
    ("token", "issuer"),
    [
        ("e30.eyJpc3MiOiJodHRwczovL2EifQ.sig", "https://a"),
        ("e30.eyJpc3MiOjF9.sig", None),
        ("e30.W10.sig", None),
        ("e30.!!!.sig", None),
        ("only.two", None),
        ("a.b.c.d", None),
        ("", None),
    ],
)
def test_the_unverified_issuer_is_read_without_failing(token: str, issuer: str | None) -> None:
    assert unverified_issuer(token) == issuer
