"""TOTP (RFC 6238) with pyotp: secrets, the ``otpauth://`` URI and its QR code, code checks.

Codes have 6 digits and 30-second steps.  A code is accepted for the current step and one step
either side (clock drift); ``matching_step`` says which step it matched so that the replay guard
can refuse it a second time.  Pure functions: the caller gives the time.
"""

from __future__ import annotations

import hmac
import re

import pyotp
import segno

DIGITS = 6
STEP_SECONDS = 30
DRIFT_STEPS = 1
#: 160 random bits, as RFC 4226 recommends, in base32 (32 characters).
SECRET_LENGTH = 32
_CODE = re.compile(r"[0-9]{6}")


def new_secret() -> str:
    return pyotp.random_base32(SECRET_LENGTH)


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://totp/...`` URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )


def qr_data_url(uri: str) -> str:
    """The QR code of ``uri`` as an SVG ``data:`` URL (an ``<img src>`` shows it)."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=4, border=2))


def normalize_code(text: str) -> str | None:
    """The 6 digits of a code as typed (spaces allowed), or None when it cannot be a code."""
    code = "".join(text.split())
    return code if _CODE.fullmatch(code) else None


def step_of(now: float) -> int:
    return int(now // STEP_SECONDS)


def matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step (within ±``DRIFT_STEPS`` of ``now``) whose code is ``code``; None if none."""
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = step_of(now)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        # Every candidate is compared, in constant time, whichever matches.
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            found = step
    return found
