"""Reading request bodies: JSON parsed strictly and validated into typed models.

Every failure is a 4xx problem with a stable code: a wrong content type (415), a body over the
limit (413), bytes that are not UTF-8 or not JSON (400 ``malformed_body``), and fields that are
missing, unknown or of the wrong type (422 ``validation_failed`` listing each field).
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from rowgate.errors import MalformedBody, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from rowgate.proxy.expect import send_continue

T = TypeVar("T", bound=BaseModel)

#: Largest JSON body rowgate's own endpoints accept, unless a handler asks for another limit.
DEFAULT_JSON_LIMIT = 64 * 1024


class Body(BaseModel):
    """Base for request bodies: camelCase on the wire, strict types, unknown fields refused.

    One spelling per field: ``orgName``, never ``org_name``, which is refused as an unknown field
    (a second spelling accepted quietly would hide a client's typo in the other fields)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=False,
        validate_by_alias=True,
        extra="forbid",
        strict=True,
        frozen=True,
    )


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def read_json(request: web.Request, limit: int = DEFAULT_JSON_LIMIT) -> Any:
    """The parsed JSON body of ``request``; refuses other media types, oversize and bad bytes."""
    if request.content_type not in ("application/json", "") and not request.content_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"Send JSON with Content-Type: application/json (got {request.content_type})."
        )
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"The body is larger than {limit} bytes.")
    await send_continue(request)
    raw = await request.content.read(limit + 1)
    if len(raw) > limit:
        raise PayloadTooLarge(f"The body is larger than {limit} bytes.")
    if not raw.strip():
        raise MalformedBody("The request needs a JSON body.")
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise MalformedBody("The body is not valid UTF-8.") from None
    except (ValueError, RecursionError):
        raise MalformedBody("The body is not valid JSON.") from None


def validated(model: type[T], data: Any) -> T:
    """``data`` validated into ``model``; every field problem listed in one 422."""
    if not isinstance(data, dict):
        raise ValidationFailed(
            "The body must be a JSON object.", errors=[{"field": "", "message": "expected an object"}]
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": _message(e["type"], e["msg"])}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        fields = ", ".join(e["field"] or "(body)" for e in errors)
        raise ValidationFailed(f"Invalid fields: {fields}.", errors=errors) from None


async def parse_body(request: web.Request, model: type[T], limit: int = DEFAULT_JSON_LIMIT) -> T:
    """Read and validate a JSON body in one step."""
    return validated(model, await read_json(request, limit))


def _message(kind: str, message: str) -> str:
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    return message.removeprefix("Value error, ")
