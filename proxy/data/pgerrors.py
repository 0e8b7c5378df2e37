"""PostgreSQL errors from data API statements as problem responses, without the server's text.

The database's messages can name constraints, types and values; clients get a stable ``code``,
the ``sqlstate`` (a public, documented number) and a sentence of rowgate's own instead:

    23505 unique violation          409 unique_violation
    23503 foreign key violation     409 foreign_key_violation
    23P01 exclusion violation       409 exclusion_violation
    23502 not-null violation        422 not_null_violation (naming the caller's column)
    23514 check violation           422 check_violation
    22xxx data exception            422 invalid_value
    42501 privilege / row security  403 write_refused / forbidden
    42xxx other statement errors    400 invalid_statement
    25006 write in a read           403 read_only
    40001, 40P01                    409 serialization_failure (retry)
    57014 canceled (timeout)        504 timeout
    53xxx, 57Pxx, 08xxx             503 service_unavailable

Row-security refusals raised inside rewritten statements keep the engine's own message, and an
answer the database refused for its size is a 422 ``response_too_large``
(``proxy.data.execute.translated``).  Anything else is logged and answered with a bare 500.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import asyncpg

from rowgate.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    GatewayTimeout,
    RowgateError,
    ServiceUnavailable,
    ValidationFailed,
)
from rowgate.proxy.data.execute import translated
from rowgate.proxy.problem import status_of

log = logging.getLogger("rowgate.data")


def problem_for(error: asyncpg.PostgresError) -> RowgateError:
    """The rowgate error a client sees for a database error raised by its statement."""
    engine = translated(error)
    if isinstance(engine, RowgateError):  # the engine's own refusals, raised in the statement
        return _with_state(engine, error)
    state = str(getattr(error, "sqlstate", "") or "")
    if isinstance(error, asyncpg.exceptions.InvalidCachedStatementError):
        return ServiceUnavailable(
            "The table changed while the statement was prepared; try again.", code="schema_changed"
        )
    found = _by_state(state, error)
    if found is None:
        log.error("data statement failed with an unexpected database error %s: %s", state, error)
        return RowgateError("The database could not run this statement; the error has been logged.")
    if status_of(found) >= 500:
        log.warning("data statement failed: %s %s", state, type(error).__name__)
    return _with_state(found, error)


def _by_state(state: str, error: asyncpg.PostgresError) -> RowgateError | None:
    exact = _EXACT.get(state)
    if exact is not None:
        return exact(error)
    for prefix, make in _CLASSES:
        if state.startswith(prefix):
            return make(error)
    return None


def _with_state(problem: RowgateError, error: asyncpg.PostgresError) -> RowgateError:
    state = getattr(error, "sqlstate", None)
    if state:
        problem.extra.setdefault("sqlstate", state)
    return problem


def _not_null(error: asyncpg.PostgresError) -> RowgateError:
    column = getattr(error, "column_name", None)
    field = str(column) if column else ""
    return ValidationFailed(
        f"Column {field} cannot be null: give it a value."
        if field
        else "A column that cannot be null got none.",
        errors=[{"field": field, "message": "cannot be null"}] if field else (),
        code="not_null_violation",
    )


def _privilege(error: asyncpg.PostgresError) -> RowgateError:
    return Forbidden(
        "The database refused this statement for rowgate's data role (check its privileges).",
        code="insufficient_privilege",
    )


Make = Callable[[asyncpg.PostgresError], RowgateError]
_EXACT: dict[str, Make] = {
    "23505": lambda e: Conflict("A row with the same unique value already exists.", code="unique_violation"),
    "23503": lambda e: Conflict(
        "The row refers to a row that does not exist, or is still referred to.", code="foreign_key_violation"
    ),
    "23P01": lambda e: Conflict("The row conflicts with an existing row.", code="exclusion_violation"),
    "23502": _not_null,
    "23514": lambda e: ValidationFailed(
        "A value fails a check constraint of the table.", code="check_violation"
    ),
    "42501": _privilege,
    "25006": lambda e: Forbidden("A read cannot write: this statement tried to.", code="read_only"),
    "40001": lambda e: Conflict(
        "The transaction conflicted with another one; retry it.", code="serialization_failure"
    ),
    "40P01": lambda e: Conflict(
        "The transaction conflicted with another one; retry it.", code="serialization_failure"
    ),
    "57014": lambda e: GatewayTimeout("The statement ran longer than data.statement_timeout allows."),
}

_CLASSES: tuple[tuple[str, Make], ...] = (
    ("22", lambda e: ValidationFailed("A value does not fit its type or range.", code="invalid_value")),
    (
        "23",
        lambda e: ValidationFailed(
            "The row breaks an integrity rule of the table.", code="integrity_violation"
        ),
    ),
    (
        "42",
        lambda e: BadRequest("The database cannot run this statement as written.", code="invalid_statement"),
    ),
    ("54", lambda e: BadRequest("The statement is too complex for the database.", code="too_complex")),
    ("53", lambda e: ServiceUnavailable("The database is short of resources; try again shortly.")),
    ("57P", lambda e: ServiceUnavailable("The database is restarting; try again shortly.")),
    ("08", lambda e: ServiceUnavailable("The database is not reachable; try again shortly.")),
    ("0A", lambda e: BadRequest("The database does not support this statement.", code="unsupported")),
    ("21", lambda e: BadRequest("The statement affects a row more than once.", code="cardinality_violation")),
    ("2B", lambda e: BadRequest("The statement breaks a dependency rule.", code="invalid_statement")),
)
