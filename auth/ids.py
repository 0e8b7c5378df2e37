"""Identifiers from the outside world: a UUID in its canonical spelling, or nothing.

Ids in paths and bodies are checked here before they reach a query, so that a malformed id is a
404 or 422 chosen by the caller, never a database error, and one row has one spelling.
"""

from __future__ import annotations

import re
import uuid

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def canonical_uuid(value: object) -> str | None:
    """``value`` as a lower-case hyphenated UUID if it is one spelt that way, else None."""
    if not isinstance(value, str) or not _UUID.fullmatch(value):
        return None
    return str(uuid.UUID(value))
