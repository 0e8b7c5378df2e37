"""Field types shared by the tenancy request bodies: each refuses bad input with a clear 422."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, StringConstraints, WithJsonSchema

from rowgate.auth.rbac.permissions import is_grantable
from rowgate.config.limits import MAX_LIMIT, CallerLimit, check_window
from rowgate.config.tenancy import GRANTED_PERMISSION, ROLE_NAME
from rowgate.config.units import parse_duration
from rowgate.proxy.bodies import Body


def _printable(value: str) -> str:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError("must not hold control characters")
    return value


def _grantable(value: str) -> str:
    if not is_grantable(value):
        raise ValueError("expected a permission like tasks:read, tasks:*, *:read or *")
    return value


def _role(value: str) -> str:
    if not ROLE_NAME.fullmatch(value):
        raise ValueError("expected a role name of lower-case letters, digits, - and _ (at most 40)")
    return value


def _text_timestamp(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError("expected an RFC 3339 timestamp with a time zone, like 2030-01-31T12:00:00Z")
    return value


def _duration(value: object) -> timedelta:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(DURATION_TEXT)
    try:
        return parse_duration(value)
    except OverflowError:
        raise ValueError(f"{DURATION_TEXT}, of at most {timedelta.max.days} days") from None


DURATION_TEXT = "expected seconds (a whole number) or a duration like 15m, 24h, 7d"
#: What the OpenAPI document says of a duration (the grammar, ``1h30m``, is in the description).
_DURATION_TEXT_PATTERN = "^\\s*([0-9]+(\\.[0-9]+)?([mM][sS]|[sSmMhHdDwW]))+\\s*$"
_DURATION_SCHEMA = {
    "anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": _DURATION_TEXT_PATTERN}],
    "description": "seconds, or a duration such as 90s, 15m, 1h30m, 7d",
}
_WINDOW_SCHEMA = {
    "anyOf": [
        {"type": "integer", "minimum": 1, "maximum": 86400},
        {"type": "string", "pattern": _DURATION_TEXT_PATTERN},
    ],
    "description": "whole seconds from 1 to 86400, or a duration such as 1m, 1h (at most 1d)",
}


#: The validators' rules as JSON Schema patterns, for the OpenAPI document (validation is theirs).
_PRINTABLE = "[^\\x00-\\x1f\\x7f]"
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_printable),
    Field(json_schema_extra={"pattern": f"^{_PRINTABLE}*[^\\s\\x00-\\x1f\\x7f]{_PRINTABLE}*$"}),
]
Description = Annotated[
    str,
    StringConstraints(max_length=500),
    AfterValidator(_printable),
    Field(json_schema_extra={"pattern": f"^{_PRINTABLE}*$"}),
]
Permission = Annotated[
    str,
    StringConstraints(max_length=130),
    AfterValidator(_grantable),
    Field(json_schema_extra={"pattern": f"^({GRANTED_PERMISSION.pattern})$"}),
]
Permissions = Annotated[list[Permission], Field(max_length=200)]
RoleName = Annotated[
    str,
    StringConstraints(max_length=40),
    AfterValidator(_role),
    Field(json_schema_extra={"pattern": f"^{ROLE_NAME.pattern}$"}),
]
#: An id in a body: checked to be a UUID by the service (an unknown one is a 404 like any other).
Id = Annotated[
    str, StringConstraints(min_length=1, max_length=64), Field(json_schema_extra={"format": "uuid"})
]
Timestamp = Annotated[AwareDatetime, BeforeValidator(_text_timestamp), Field(strict=False)]
Duration = Annotated[
    timedelta, BeforeValidator(_duration), Field(strict=False), WithJsonSchema(_DURATION_SCHEMA)
]
Window = Annotated[
    timedelta,
    BeforeValidator(_duration),
    AfterValidator(check_window),
    Field(strict=False),
    WithJsonSchema(_WINDOW_SCHEMA),
]


class RateLimit(Body):
    """``{limit, window}``: ``limit`` requests refilled over ``window`` (seconds, or ``1m``)."""

    limit: int = Field(ge=1, le=MAX_LIMIT)
    window: Window

    def limit_of(self) -> CallerLimit:
        return CallerLimit(limit=self.limit, window=self.window)


__all__ = [
    "Description",
    "Duration",
    "Id",
    "Name",
    "Permissions",
    "RateLimit",
    "RoleName",
    "Timestamp",
    "datetime",
]
