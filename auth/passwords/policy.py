"""The password policy: which passwords rowgate accepts (pure code).

Two presets, with per-rule overrides from ``auth.password``:

* ``default``: what the products rowgate replaces promise: at least 8 characters with an upper-case
  letter, a lower-case letter and a digit (a special character optional);
* ``nist``: NIST SP 800-63B: at least 15 characters (a password as the only factor) and no
  composition rules.

Both refuse the most common passwords (the list shipped in ``auth/data``, compared without regard
to case), and passwords that are the account's own email address.  Both accept at least 64
characters and never truncate.  Passwords are compared and counted after Unicode NFKC
normalisation, so the same password typed on two keyboards is one password.  ``violations``
lists every rule a password breaks, so the person can fix them all at once.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

from rowgate.config.identity import PasswordSettings
from rowgate.errors import ValidationFailed

PRESETS = {
    "default": {"min_length": 8, "upper": True, "lower": True, "digit": True, "special": False},
    "nist": {"min_length": 15, "upper": False, "lower": False, "digit": False, "special": False},
}


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: a stable code and a message for the person choosing the password."""

    code: str
    message: str


def normalize_password(password: str) -> str:
    """The form in which passwords are checked, hashed and compared (NFKC)."""
    return unicodedata.normalize("NFKC", password)


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords (lower case)."""
    text = resources.files("rowgate.auth.data").joinpath("common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    min_length: int
    max_length: int
    require_upper: bool
    require_lower: bool
    require_digit: bool
    require_special: bool
    refuse_common: bool

    @classmethod
    def from_settings(cls, settings: PasswordSettings) -> PasswordPolicy:
        preset = PRESETS[settings.preset]

        def pick(override: bool | None, key: str) -> bool:
            return bool(preset[key]) if override is None else override

        return cls(
            min_length=settings.min_length or int(preset["min_length"]),
            max_length=settings.max_length,
            require_upper=pick(settings.require_upper, "upper"),
            require_lower=pick(settings.require_lower, "lower"),
            require_digit=pick(settings.require_digit, "digit"),
            require_special=pick(settings.require_special, "special"),
            refuse_common=settings.refuse_common,
        )

    def violations(self, password: str, *, email: str | None = None) -> list[Violation]:
        """Every rule ``password`` breaks (empty: acceptable)."""
        text = normalize_password(password)
        found = self._length(text)
        found += self._composition(text)
        if any(unicodedata.category(c) == "Cc" for c in text):
            found.append(Violation("control_characters", "must not contain control characters"))
        folded = text.casefold()
        if self.refuse_common and folded in common_passwords():
            found.append(Violation("common", "is one of the most common passwords; choose another"))
        if email and folded in (email.casefold(), email.split("@", 1)[0].casefold()):
            found.append(Violation("contains_email", "must not be your email address"))
        return found

    def check(self, password: str, *, email: str | None = None, field: str = "password") -> None:
        """Raise ValidationFailed (``weak_password``) listing every broken rule."""
        broken = self.violations(password, email=email)
        if broken:
            raise ValidationFailed(
                "The password does not meet the policy: " + "; ".join(v.message for v in broken) + ".",
                code="weak_password",
                errors=[{"field": field, "code": v.code, "message": v.message} for v in broken],
            )

    def describe(self) -> Sequence[str]:
        """The rules in words (for clients that show them before the user types)."""
        rules = [f"{self.min_length} to {self.max_length} characters"]
        rules += [
            f"at least one {kind}"
            for kind, wanted in (
                ("upper-case letter", self.require_upper),
                ("lower-case letter", self.require_lower),
                ("digit", self.require_digit),
                ("special character", self.require_special),
            )
            if wanted
        ]
        if self.refuse_common:
            rules.append("not one of the most common passwords")
        return rules

    def _length(self, text: str) -> list[Violation]:
        if len(text) < self.min_length:
            return [Violation("too_short", f"must be at least {self.min_length} characters long")]
        if len(text) > self.max_length:
            return [Violation("too_long", f"must be at most {self.max_length} characters long")]
        return []

    def _composition(self, text: str) -> list[Violation]:
        rules = (
            (self.require_upper, "missing_upper", "must contain an upper-case letter", str.isupper),
            (self.require_lower, "missing_lower", "must contain a lower-case letter", str.islower),
            (self.require_digit, "missing_digit", "must contain a digit", str.isdigit),
            (self.require_special, "missing_special", "must contain a special character", _is_special),
        )
        return [
            Violation(code, message)
            for wanted, code, message, test in rules
            if wanted and not any(map(test, text))
        ]


def _is_special(char: str) -> bool:
    return not char.isalnum()
