"""SQL carried by upstream requests, rewritten for the caller before it is forwarded.

A route rule with ``sql: {at: ..., dialect: ...}`` says where an upstream request carries a
statement: ``json:/pointer`` (a string inside a JSON body), ``query:name`` (one query
parameter) or ``body`` (the raw body, UTF-8).  rowgate takes the statement out, rewrites it for
the caller in the route's dialect with the tenant and user written in as quoted literals (the
upstream binds no parameters of rowgate's), puts it back, and forwards the changed request.
Anything that goes wrong (no statement where the rule says, a statement the engine refuses, a
table permission the caller lacks) is answered by rowgate: a refused statement never reaches the
upstream.

The engine writes tables of the policy's default schema unqualified for dialects other than
PostgreSQL (``tasks``, not ``"public"."tasks"``, which in SQLite, MySQL or DuckDB would name
another database or attached file): see ``rls.context.SCHEMA_DIALECTS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson
from aiohttp import web
from sqlglot.errors import SqlglotError

from rowgate.config.schema import SqlCarrier
from rowgate.errors import BadRequest, MalformedBody, PayloadTooLarge
from rowgate.proxy.bodies import read_json
from rowgate.proxy.data.access import Caller
from rowgate.proxy.data.policy import DataPolicy
from rowgate.proxy.expect import send_continue
from rowgate.rls.names import dialect_of


@dataclass(frozen=True, slots=True)
class Replacement:
    """What to forward instead: a new body and/or a new query string (``None``: unchanged)."""

    body: bytes | None = None
    query: str | None = None


async def rewrite_request(
    request: web.Request, carrier: SqlCarrier, caller: Caller, policy: DataPolicy, limit: int
) -> Replacement:
    """The request's statement rewritten for ``caller``, in a body or query to forward."""
    if carrier.at == "body":
        raw = await _read(request, limit)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedBody("The body is not valid UTF-8.") from None
        return Replacement(body=rewrite_sql(text, carrier.dialect, caller, policy).encode())
    kind, _, where = carrier.at.partition(":")
    if kind == "query":
        return Replacement(query=_rewrite_query(request, where, carrier.dialect, caller, policy))
    document = await read_json(request, limit)
    pointer = _pointer(where)
    statement = rewrite_sql(_get(document, pointer, where), carrier.dialect, caller, policy)
    if pointer:
        _set(document, pointer, statement)
    else:
        document = statement
    return Replacement(body=orjson.dumps(document))


def rewrite_sql(sql: str, dialect: str, caller: Caller, policy: DataPolicy) -> str:
    """``sql`` confined to ``caller`` in ``dialect``, with literal values; ``QueryRefused`` or
    ``WriteRefused`` when the engine refuses it, ``Forbidden`` when a permission is missing."""
    rewriter = policy.rewriter_for(dialect)
    return rewriter.rewrite(sql, caller.subject, _placeholders(sql, dialect), permit=caller.access.permit).sql


def _placeholders(sql: str, dialect: str) -> int:
    """How many ``$n`` parameters a PostgreSQL statement uses (the upstream binds them)."""
    if dialect != "postgres":
        return 0
    try:
        tokens = dialect_of(dialect).tokenize(sql)
    except SqlglotError:
        return 0  # the rewriter reports the parse error
    numbers = [int(t.text) for t in tokens if t.token_type.name == "PARAMETER" and _number(t.text)]
    numbers += [int(t.text[1:]) for t in tokens if t.text.startswith("$") and _number(t.text[1:])]
    return max(numbers, default=0)


def _number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) < 6


def _rewrite_query(request: web.Request, name: str, dialect: str, caller: Caller, policy: DataPolicy) -> str:
    query = request.rel_url.query
    values = query.getall(name, [])
    if len(values) != 1:
        raise BadRequest(f"Send the statement once in the query parameter {name}.", code="sql_missing")
    rewritten = rewrite_sql(values[0], dialect, caller, policy)
    pairs = [(key, rewritten if key == name else value) for key, value in query.items()]
    return urlencode(pairs)


async def _read(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"The body is larger than {limit} bytes.")
    await send_continue(request)
    raw = await request.content.read(limit + 1)
    if len(raw) > limit:
        raise PayloadTooLarge(f"The body is larger than {limit} bytes.")
    return raw


def _pointer(where: str) -> list[str]:
    """An RFC 6901 JSON pointer as its unescaped tokens (``""`` is the whole document)."""
    if where == "":
        return []
    return [token.replace("~1", "/").replace("~0", "~") for token in where[1:].split("/")]


def _get(document: Any, pointer: list[str], where: str) -> str:
    node = document
    for token in pointer:
        node = _child(node, token)
        if node is _MISSING:
            break
    if not isinstance(node, str):
        raise BadRequest(
            f"The JSON body holds no statement (a string) at {where or '/'}.", code="sql_missing"
        )
    return node


def _set(document: Any, pointer: list[str], value: str) -> None:
    parent = document
    for token in pointer[:-1]:
        parent = _child(parent, token)
    if isinstance(parent, list):
        parent[int(pointer[-1])] = value
    else:
        parent[pointer[-1]] = value


_MISSING = object()


def _child(node: Any, token: str) -> Any:
    if isinstance(node, dict):
        return node.get(token, _MISSING)
    if isinstance(node, list) and token.isascii() and token.isdigit() and int(token) < len(node):
        return node[int(token)]
    return _MISSING
