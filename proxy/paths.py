"""One meaning per path: the canonical form route rules see, and the one form the upstream gets.

Path confusion is a proxy deciding on one reading of a path while the app behind it reads another:
Tomcat and Spring drop ``;`` parameters (``/public/..;/admin`` is ``/admin`` to them), some
servers decode ``%2e``, ``%2f`` or ``%5c`` before resolving dot segments, some decode twice, IIS
drops trailing dots, NFKC turns fullwidth dots (U+FF0E) into ``.``.  rowgate does not guess
which: any path whose reading could differ between servers is refused (400 ``invalid_path``),
and every other path is percent-decoded once (``canonical_path``), matched against the route
rules in that form, and forwarded re-encoded from it (``upstream_path``), so the app receives
exactly the path the rules were applied to.  Unicode compatibility characters are normalised
(NFKC: a fullwidth A, U+FF21, is matched and forwarded as ``A``), since some servers do that.

Refused:

* ``;`` anywhere (path parameters), raw or encoded (``%3b``);
* encoded ``/``, ``\\``, ``.``, ``%`` (``%2f``, ``%5c``, ``%2e``, ``%25``: a second decoding
  could make them separators, dot segments or new escapes) and encoded control characters
  (``%00``, ``%0a``, ...), in any letter case;
* a ``%`` not followed by two hex digits; bytes that are not UTF-8 (overlong forms included);
* raw ``\\`` and control characters;
* ``.`` and ``..`` segments, empty segments (``//``; a final ``/`` is fine), segments ending in
  a dot or a space (Windows servers drop them);
* characters that NFKC normalisation turns into any of the above (two fullwidth dots, U+FF0E,
  make a ``..`` segment).
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote, unquote

from rowgate.errors import BadRequest

#: Percent-escapes whose decoded byte could change the path's structure on a second reading.
_FORBIDDEN_ESCAPE = re.compile(r"%(?:2[eEfF5]|5[cC]|3[bB]|[01][0-9a-fA-F]|7[fF])")
_MALFORMED_ESCAPE = re.compile(r"%(?![0-9a-fA-F]{2})")
_FORBIDDEN_CHARS = frozenset("\\;%") | {chr(c) for c in range(0x20)} | {"\x7f"}
#: Characters forwarded as they are; anything else is percent-encoded (RFC 3986 ``pchar``
#: without ``;``, which the path can no longer hold).
_SAFE = "/:@!$&'()*+,=-._~"
#: A path that is its own canonical form and its own forwarded form, nothing to decode or
#: normalise: ASCII characters ``quote`` leaves alone, no ``%``, no empty segment, no segment
#: ending in a dot (so no ``.`` or ``..``).  Most paths are; they skip the steps below.
_PLAIN = re.compile(r"(?:/[-0-9A-Za-z:@!$&'()*+,=._~]*[-0-9A-Za-z:@!$&'()*+,=_~])*/?")


def _invalid(why: str) -> BadRequest:
    return BadRequest(f"The path {why}; send it in its plain form.", code="invalid_path")


def canonical_path(raw_path: str) -> str:
    """The percent-decoded, NFKC-normalised path, or 400 ``invalid_path`` when servers could read
    it differently."""
    path = raw_path.partition("?")[0]
    if _PLAIN.fullmatch(path) and path:
        return path
    if not path.startswith("/"):
        raise _invalid("must start with /")
    if _FORBIDDEN_ESCAPE.search(path):
        raise _invalid("holds an encoded '/', '\\', '.', ';', '%' or control character")
    if _MALFORMED_ESCAPE.search(path):
        raise _invalid("holds a '%' that does not start an escape")
    try:
        decoded = unquote(path, errors="strict")
        decoded.encode("utf-8")  # lone surrogates from a raw request line
    except UnicodeError:
        raise _invalid("is not valid UTF-8") from None
    _check(decoded)
    normalised = unicodedata.normalize("NFKC", decoded)
    if normalised != decoded:
        _check(normalised)
    return normalised


def _check(decoded: str) -> None:
    if any(c in _FORBIDDEN_CHARS for c in decoded):
        raise _invalid("holds ';', '\\' or a control character")
    segments = decoded.split("/")[1:]
    if any(s in (".", "..") for s in segments):
        raise _invalid("holds a '.' or '..' segment")
    if any(s == "" for s in segments[:-1]):
        raise _invalid("holds an empty segment ('//')")
    if any(s[-1] in ". " for s in segments if s):
        raise _invalid("holds a segment ending in a dot or a space")


def upstream_path(canonical: str) -> str:
    """The one encoding of a canonical path that is forwarded (UTF-8, upper-case escapes)."""
    return canonical if _PLAIN.fullmatch(canonical) else quote(canonical, safe=_SAFE)
