"""What a column's CHECK constraints say about its values, where they can be read plainly.

PostgreSQL prints a constraint with ``pg_get_constraintdef``; two shapes are common enough to be
worth stating in the OpenAPI document, so that clients (and generated ones) send what the
database accepts:

    CHECK ((status = ANY (ARRAY['draft'::text, 'published'::text])))   → labels draft, published
    CHECK ((name <> ''::text))                                         → at least one character

Anything else is left unsaid (the database still enforces it; a violation is a 422).  Pure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_CAST = r"(?:::(?:text|character varying|bpchar|character))?"
_LITERAL = re.compile(r"'((?:[^']|'')*)'" + _CAST)
_COLUMN = r'\(*"?(?P<column>[^"()\s]+)"?\)?' + _CAST


def _shape(body: str) -> re.Pattern[str]:
    return re.compile(r"CHECK \(\(?" + _COLUMN + body + r"\)?\)\)?")


_IN = _shape(
    r" = ANY \(\(?ARRAY\[(?P<items>(?:'(?:[^']|'')*'" + _CAST + r"(?:, )?)+)\]\)?(?:::[\w ]+\[\])?\)"
)
_NOT_EMPTY = _shape(r" <> ''" + _CAST)


@dataclass(frozen=True, slots=True)
class ColumnChecks:
    """What the constraints on one column allow: a list of labels, a minimum length."""

    labels: tuple[str, ...] = ()
    min_length: int | None = None


def read_checks(column: str, definitions: Sequence[str]) -> ColumnChecks:
    """The facts about ``column`` in its single-column constraints' ``definitions``."""
    labels: tuple[str, ...] = ()
    min_length = None
    for definition in definitions:
        text = definition.strip()
        found = _IN.fullmatch(text)
        if found and found["column"] == column:
            labels = tuple(item.replace("''", "'") for item in _LITERAL.findall(found["items"]))
            continue
        found = _NOT_EMPTY.fullmatch(text)
        if found and found["column"] == column:
            min_length = 1
    return ColumnChecks(labels, min_length)
