"""The signature layer (RFC 7515, compact serialisation) for the tokens rowgate issues.

``verify`` refuses a token at the first step it fails, and decodes the payload only once the
signature is known to be good:

1. size and characters: more than ``MAX_TOKEN_LENGTH`` characters, or any non-ASCII, is refused
   before any parsing;
2. shape: exactly three canonical base64url segments (no padding), the header a JSON object;
3. header parameters: only ``alg``, ``kid`` and ``typ``.  Key-carrying or key-locating parameters
   (``jku``, ``jwk``, ``x5u``, ``x5c``, ...) are refused rather than ignored, so that nothing
   downstream can ever be tempted to fetch or trust them; so is any ``crit`` (rowgate understands
   no extension);
4. ``alg``: ``none`` in any letter case is refused; otherwise it must equal the algorithm of the key
   named by ``kid``.  The key decides the algorithm, never the header, so HS256-signed-with-a-public-key
   and similar confusions cannot verify;
5. ``kid``: a short base64url string naming a key of the ring that still verifies (it is only ever a
   dictionary key: never a path, a query or a URL);
6. ``typ``: one of the values the caller expects (so an ID token is never an access token);
7. the signature, with the key's own algorithm.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any, Final

from rowgate.auth.tokens.keys import KeyRing, SigningKey
from rowgate.errors import InvalidToken

MAX_TOKEN_LENGTH: Final = 8192
HEADER_PARAMETERS: Final = frozenset({"alg", "kid", "typ"})
#: Parameters that carry or locate a key: an attacker's key would come in through them.
KEY_PARAMETERS: Final = ("jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256")
_KID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")


def sign(payload: Mapping[str, Any], key: SigningKey, typ: str) -> str:
    """A compact JWS of ``payload`` signed with ``key``; the header names its alg, kid and typ."""
    header = {"alg": key.algorithm, "kid": key.kid, "typ": typ}
    signing_input = _b64json(header) + b"." + _b64json(payload)
    return (signing_input + b"." + _b64encode(key.sign(signing_input))).decode("ascii")


def verify(token: str, ring: KeyRing, now: float, types: frozenset[str]) -> dict[str, Any]:
    """The payload of ``token`` once its header and signature check out against ``ring``."""
    header_segment, payload_segment, signature_segment = _split(token)
    header = _json_object(_b64decode(header_segment, "header"), "header")
    key = _validate_header(header, ring, now, types)
    signing_input = f"{header_segment}.{payload_segment}".encode("ascii")
    if not key.verify(signing_input, _b64decode(signature_segment, "signature")):
        raise InvalidToken("The token's signature is not valid: it was altered or signed by someone else.")
    return _json_object(_b64decode(payload_segment, "payload"), "payload")


def check_size(token: object) -> str:
    """``token`` if it is a string of at most ``MAX_TOKEN_LENGTH`` characters; InvalidToken otherwise."""
    if not isinstance(token, str):
        raise InvalidToken("The token must be a string.")
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken(f"The token is longer than {MAX_TOKEN_LENGTH} characters; rowgate issues none.")
    return token


def _split(token: object) -> tuple[str, str, str]:
    token = check_size(token)
    if not token.isascii():
        raise InvalidToken("The token contains characters that are not base64url.")
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("A token must have three dot-separated parts (header.payload.signature).")
    return parts[0], parts[1], parts[2]


def _validate_header(header: dict[str, Any], ring: KeyRing, now: float, types: frozenset[str]) -> SigningKey:
    _validate_parameters(header)
    _validate_not_none(header)
    key = _validate_kid(header, ring, now)
    _validate_alg(header, key)
    _validate_typ(header, types)
    return key


def _validate_parameters(header: Mapping[str, Any]) -> None:
    if "crit" in header:
        raise InvalidToken("The token's header marks extensions as critical (crit); rowgate supports none.")
    for name in KEY_PARAMETERS:
        if name in header:
            raise InvalidToken(f"The token's header carries '{name}'; rowgate never takes keys from a token.")
    if not header.keys() <= HEADER_PARAMETERS:
        raise InvalidToken("The token's header has parameters rowgate never issues (only alg, kid, typ).")


def _validate_not_none(header: Mapping[str, Any]) -> None:
    alg = header.get("alg")
    if not isinstance(alg, str) or not alg:
        raise InvalidToken("The token's header has no algorithm (alg).")
    if alg.lower() == "none":
        raise InvalidToken("Unsigned tokens (alg none) are never accepted.")


def _validate_kid(header: Mapping[str, Any], ring: KeyRing, now: float) -> SigningKey:
    kid = header.get("kid")
    if not isinstance(kid, str) or not _KID.fullmatch(kid):
        raise InvalidToken("The token's header must name a rowgate signing key (kid).")
    key = ring.find(kid, now)
    if key is None:
        raise InvalidToken(
            "The token was signed with a key this server does not know (another issuer, "
            "or a key retired long ago): sign in again."
        )
    return key


def _validate_alg(header: Mapping[str, Any], key: SigningKey) -> None:
    if header["alg"] != key.algorithm:
        raise InvalidToken("The token's algorithm (alg) is not the algorithm of its signing key.")


def _validate_typ(header: Mapping[str, Any], types: frozenset[str]) -> None:
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in types:
        raise InvalidToken(f"The token's type (typ) must be {' or '.join(sorted(types))}.")


def _b64decode(segment: str, name: str) -> bytes:
    """Strict base64url: the alphabet only, no padding, one canonical encoding per value."""
    if len(segment) % 4 == 1 or not _SEGMENT.fullmatch(segment):
        raise InvalidToken(f"The token's {name} is not base64url.")
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    if _b64encode(raw) != segment.encode("ascii"):
        raise InvalidToken(f"The token's {name} is not canonical base64url.")
    return raw


def _json_object(raw: bytes, name: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidToken(f"The token's {name} is not JSON.") from exc
    if not isinstance(value, dict):
        raise InvalidToken(f"The token's {name} must be a JSON object.")
    return value


def _b64encode(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _b64json(value: Mapping[str, Any]) -> bytes:
    return _b64encode(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
