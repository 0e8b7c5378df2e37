"""Webhook signatures: ``Rowgate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>``.

The MAC is computed with the shared secret over ``f"{t}.{body}"`` (the exact bytes sent).  A
receiver recomputes it, compares in constant time, and refuses timestamps older than a few
minutes, which stops replays of a captured request.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping

from rowgate.errors import ConfigError

HEADER = "Rowgate-Signature"
SECRET_ENV = "ROWGATE_ALERTS_WEBHOOK_SECRET"  # noqa: S105 - the variable's name, not a secret
MIN_SECRET_LENGTH = 16


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """The header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: bytes, header: str, body: bytes, now: int, tolerance: int = 300) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within ``tolerance`` seconds of ``now``."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    return abs(now - timestamp) <= tolerance and hmac.compare_digest(expected, parts.get("v1", ""))


def webhook_secret(webhooks: tuple[str, ...], environ: Mapping[str, str] | None = None) -> bytes | None:
    """The secret from the environment; a ConfigError naming the key when webhooks need one."""
    if not webhooks:
        return None
    secret = (os.environ if environ is None else environ).get(SECRET_ENV, "")
    if len(secret) < MIN_SECRET_LENGTH:
        raise ConfigError(
            [
                f"alerts.webhooks: set {SECRET_ENV} to a random secret of at least {MIN_SECRET_LENGTH} "
                "characters (the webhooks are signed with it)"
            ]
        )
    return secret.encode("utf-8")
