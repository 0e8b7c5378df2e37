"""Email addresses: one normal form per mailbox, validated pragmatically.

Normal form: Unicode NFKC (so an address typed with fullwidth letters is the ASCII one), surrounding
space removed, lower case, and the domain in its IDNA ASCII form (``münchen.de`` and
``xn--mnchen-3ya.de`` are one domain).  Two spellings of one address therefore meet the unique
constraint on ``users.email`` and are one account.

Validation is deliberately pragmatic rather than RFC 5322 complete: one ``@``; a dot-atom local
part of at most 64 characters (ASCII ``atext`` or Unicode letters, marks and digits; no quoted
strings, comments or IP literals); a domain of at least two IDNA-valid labels; at most 254
characters in all.  Look-alikes that survive NFKC are refused when a part mixes scripts the way
spoofed names do (Latin with Cyrillic, say); the combinations Unicode's "highly restrictive" level
allows (Latin with Han and Japanese kana, Latin with Han and Hangul) stay valid.
"""

from __future__ import annotations

import re
import unicodedata

import idna

MAX_ADDRESS = 254
MAX_LOCAL = 64
_ATEXT = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]")
#: Scripts that may share one name (UTS 39, "highly restrictive").
_ALLOWED_MIXES = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)


class InvalidEmail(ValueError):
    """The address cannot be used; the message says why, for the person who typed it."""


def normalize_email(raw: str) -> str:
    """The normal form of ``raw``, or InvalidEmail saying what is wrong with it."""
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", raw).strip().lower())
    if not text:
        raise InvalidEmail("enter an email address")
    if len(text) > MAX_ADDRESS:
        raise InvalidEmail(f"an email address has at most {MAX_ADDRESS} characters")
    if any(c.isspace() or unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in text):
        raise InvalidEmail("an email address holds no spaces or control characters")
    if text.count("@") != 1:
        raise InvalidEmail("an email address has exactly one @, like name@example.com")
    local, domain = text.split("@")
    _check_local(local)
    address = f"{local}@{_ascii_domain(domain)}"
    if len(address) > MAX_ADDRESS:
        raise InvalidEmail(f"an email address has at most {MAX_ADDRESS} characters")
    return address


def _check_local(local: str) -> None:
    if not local:
        raise InvalidEmail("the part before @ is empty")
    if len(local) > MAX_LOCAL:
        raise InvalidEmail(f"the part before @ has at most {MAX_LOCAL} characters")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise InvalidEmail("the part before @ cannot start or end with a dot or hold two dots in a row")
    for char in local:
        if char != "." and not _ATEXT.fullmatch(char) and not _unicode_word_char(char):
            raise InvalidEmail(f"the part before @ cannot hold {char!r}")
    if not _single_script(local):
        raise InvalidEmail("the part before @ mixes alphabets (a look-alike of another address?)")


def _unicode_word_char(char: str) -> bool:
    return ord(char) > 127 and unicodedata.category(char)[0] in "LMN"


def _ascii_domain(domain: str) -> str:
    """The domain's IDNA ASCII form; InvalidEmail unless it is a valid name with a dot."""
    if not domain:
        raise InvalidEmail("the part after @ is empty")
    if domain.startswith("[") or "." not in domain.strip("."):
        raise InvalidEmail("the part after @ must be a domain name like example.com")
    try:
        ascii_form = idna.encode(domain, uts46=True, std3_rules=True).decode("ascii")
        unicode_form = idna.decode(ascii_form)
    except (idna.IDNAError, UnicodeError):
        raise InvalidEmail("the part after @ is not a valid domain name") from None
    labels = unicode_form.split(".")
    if len(labels) < 2 or labels[-1].isdigit():
        raise InvalidEmail("the part after @ must be a domain name like example.com")
    if not all(_single_script(label) for label in labels):
        raise InvalidEmail("the domain mixes alphabets (a look-alike of another domain?)")
    return ascii_form.lower()


def _single_script(text: str) -> bool:
    """True when the letters of ``text`` come from one script, or an allowed East Asian mix."""
    scripts = {_script(c) for c in text if c.isalpha()}
    scripts.discard("COMMON")
    return len(scripts) <= 1 or any(scripts <= mix for mix in _ALLOWED_MIXES)


def _script(char: str) -> str:
    """The script of a letter, from its Unicode name (``CYRILLIC SMALL LETTER A`` → CYRILLIC)."""
    if char.isascii():
        return "LATIN"
    name = unicodedata.name(char, "")
    if name.startswith("CJK"):
        return "HAN"
    if name.startswith(("KATAKANA-HIRAGANA", "MODIFIER LETTER")):
        return "COMMON"
    return name.split(" ", 1)[0].split("-", 1)[0] or "UNKNOWN"
