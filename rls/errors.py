"""What the RLS engine refuses, by a stable ``code`` and a message, never an HTTP status.

    Refusal              refused          (base: the engine will not run this statement)
    ├── QueryRefused     query_refused    (the statement cannot run: not allowed, not understood)
    └── WriteRefused     write_refused    (a write the policy does not allow this caller)

A policy file with problems is a ``rowgate.errors.ConfigError`` listing each with its key path.
Refusals hang under ``rowgate.errors.RowgateError`` (which knows nothing of HTTP) so that a
program using the engine catches one base; the HTTP layer maps each class to its status.  The
message (``detail``) says which rule refused and what to change; it never holds the policy text.
"""

from __future__ import annotations

from rowgate.errors import RowgateError


class Refusal(RowgateError):
    """The engine will not run a statement."""

    default_code = "refused"
    title = "Refused"


class QueryRefused(Refusal):
    """The statement cannot run; ``detail`` says which rule and what to change."""

    default_code = "query_refused"
    title = "Query refused"


class WriteRefused(Refusal):
    """A write the policy does not allow this caller (the table or operation is closed to its groups)."""

    default_code = "write_refused"
    title = "Write refused by policy"
