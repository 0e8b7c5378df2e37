"""The REST query-string grammar, parsed into plain values (no schema, no SQL).

::

    ?status=eq.open&priority=gte.2&title=ilike.*bug*      column filters, AND-ed
    ?id=in.(1,2,3)&closed_at=is.null&done=not.is.true      in, is, not. prefix
    ?or=(priority.gt.5,title.like.*urgent*)                 a group (or=, and=, not.or=, ...)
    ?or=(done.is.true,and(priority.gte.3,title.not.eq."a,b"))   nesting, quoted values
    ?select=id,title&order=priority.desc.nullslast,id&limit=20&offset=40&count=exact

Operators: ``eq neq gt gte lt lte like ilike in is``; ``*`` in a like pattern matches anything.
Inside a group a filter reads ``column.[not.]operator.value``; a value holding ``,``, ``(``,
``)`` or ``"`` is written in double quotes with ``\\`` escapes.  Every mistake is a
``BadRequest`` that names the parameter and what was expected.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from rowgate.errors import BadRequest

OPERATORS = frozenset({"eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "in", "is"})
IS_VALUES = frozenset({"null", "true", "false"})
RESERVED = frozenset({"select", "order", "limit", "offset", "count", "or", "and", "not.or", "not.and"})
MAX_OFFSET = 10**9
MAX_DEPTH = 8


@dataclass(frozen=True, slots=True)
class Filter:
    """``column <operator> value``; ``value`` is text, a tuple for ``in``, a word for ``is``."""

    column: str
    operator: str
    value: str | tuple[str, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Group:
    """Filters joined by ``and`` or ``or``."""

    joiner: Literal["and", "or"]
    items: tuple[Filter | Group, ...]
    negated: bool = False


Condition = Filter | Group


@dataclass(frozen=True, slots=True)
class Order:
    column: str
    descending: bool = False
    nulls: Literal["first", "last"] | None = None


@dataclass(frozen=True, slots=True)
class ReadQuery:
    """A parsed read: columns (``None``: all visible), filters, order, paging, count."""

    columns: tuple[str, ...] | None
    where: tuple[Condition, ...]
    order: tuple[Order, ...]
    limit: int
    offset: int
    count: bool


def parse_read(pairs: Iterable[tuple[str, str]], *, default_limit: int, max_limit: int) -> ReadQuery:
    """Parse the query string of a REST read (``pairs`` in the order given)."""
    columns: tuple[str, ...] | None = None
    where: list[Condition] = []
    order: tuple[Order, ...] = ()
    limit, offset, count = default_limit, 0, False
    seen: set[str] = set()
    for name, value in pairs:
        if name in RESERVED and name not in ("or", "and", "not.or", "not.and"):
            if name in seen:
                raise BadRequest(f"Give the {name} parameter once.", code="duplicate_parameter")
            seen.add(name)
        if name == "select":
            columns = parse_select(value)
        elif name == "order":
            order = parse_order(value)
        elif name == "limit":
            limit = _integer("limit", value, max_limit, "limit_too_large")
        elif name == "offset":
            offset = _integer("offset", value, MAX_OFFSET, "invalid_offset")
        elif name == "count":
            if value != "exact":
                raise BadRequest(f"count takes the value exact, got {value!r}.", code="invalid_count")
            count = True
        elif name in ("or", "and", "not.or", "not.and"):
            negated, joiner = name.startswith("not."), name.removeprefix("not.")
            where.append(_group(joiner, value, negated, name))
        else:
            where.append(parse_filter(name, value))
    return ReadQuery(columns, tuple(where), order, limit, offset, count)


def parse_filter(column: str, text: str) -> Filter:
    """``column=[not.]operator.value`` as a query parameter."""
    if not column:
        raise BadRequest("A query parameter has no name.", code="invalid_filter")
    negated = text.startswith("not.")
    rest = text[4:] if negated else text
    operator, dot, value = rest.partition(".")
    if not dot:
        raise BadRequest(
            f"Filter {column}={text!r}: write operator.value, such as eq.5 or in.(1,2).",
            code="invalid_filter",
        )
    return _filter(column, operator, value, negated, unquote=False)


def parse_select(text: str) -> tuple[str, ...] | None:
    """``select=a,b,c`` (``*``: every visible column)."""
    names = [part.strip() for part in text.split(",")]
    if not text or any(not n for n in names):
        raise BadRequest(
            "select lists column names separated by commas, such as id,title.", code="invalid_select"
        )
    return None if names == ["*"] else tuple(names)


def parse_order(text: str) -> tuple[Order, ...]:
    """``order=col[.asc|.desc][.nullsfirst|.nullslast],...``."""
    orders = []
    for part in text.split(","):
        column, *modifiers = part.strip().split(".")
        descending = False
        nulls: Literal["first", "last"] | None = None
        for index, word in enumerate(modifiers):
            if word in ("asc", "desc") and index == 0:
                descending = word == "desc"
            elif word in ("nullsfirst", "nullslast") and nulls is None:
                nulls = "first" if word == "nullsfirst" else "last"
            else:
                raise BadRequest(
                    f"order {part!r}: write column[.asc|.desc][.nullsfirst|.nullslast].", code="invalid_order"
                )
        if not column:
            raise BadRequest("order names a column, such as order=created_at.desc.", code="invalid_order")
        orders.append(Order(column, descending, nulls))
    return tuple(orders)


def _integer(name: str, text: str, maximum: int, too_large: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise BadRequest(f"{name} takes a whole number of 0 or more, got {text!r}.", code=f"invalid_{name}")
    value = int(text)
    if value > maximum:
        raise BadRequest(f"{name} is at most {maximum}, got {value}.", code=too_large)
    return value


def _filter(column: str, operator: str, value: str, negated: bool, *, unquote: bool) -> Filter:
    if operator not in OPERATORS:
        raise BadRequest(
            f"Unknown operator {operator!r} for {column}; use one of {', '.join(sorted(OPERATORS))}.",
            code="unknown_operator",
        )
    if operator == "in":
        if not (value.startswith("(") and value.endswith(")")):
            raise BadRequest(f"Filter on {column}: write in.(a,b,c).", code="invalid_filter")
        items = tuple(_unquoted(item) for item in _split(value[1:-1], column)) if value != "()" else ()
        return Filter(column, "in", items, negated)
    if operator == "is":
        if value not in IS_VALUES:
            raise BadRequest(f"Filter on {column}: is takes null, true or false.", code="invalid_filter")
        return Filter(column, "is", value, negated)
    return Filter(column, operator, _unquoted(value) if unquote else value, negated)


def _group(joiner: str, text: str, negated: bool, name: str, depth: int = 0) -> Group:
    if depth > MAX_DEPTH:
        raise BadRequest(f"{name}: groups nest at most {MAX_DEPTH} deep.", code="invalid_filter")
    if not (text.startswith("(") and text.endswith(")")) or text == "()":
        raise BadRequest(f"{name}: write {joiner}=(filter,filter,...).", code="invalid_filter")
    items: list[Condition] = []
    for item in _split(text[1:-1], name):
        inner_negated = item.startswith("not.")
        body = item[4:] if inner_negated else item
        for word in ("and", "or"):
            if body.startswith(word + "("):
                items.append(_group(word, body[len(word) :], inner_negated, name, depth + 1))
                break
        else:
            column, dot, rest = item.partition(".")
            filter_negated = rest.startswith("not.")
            rest = rest[4:] if filter_negated else rest
            operator, dot2, value = rest.partition(".")
            if not dot or not dot2:
                raise BadRequest(f"{name}: write column.operator.value, got {item!r}.", code="invalid_filter")
            items.append(_filter(column, operator, value, filter_negated, unquote=True))
    return Group("and" if joiner == "and" else "or", tuple(items), negated)


def _split(text: str, name: str) -> list[str]:
    """Split at commas outside double quotes and parentheses."""
    parts: list[str] = []
    current: list[str] = []
    depth, quoted, escaped = 0, False, False
    for char in text:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
            if depth < 0:
                break
        elif not quoted and depth == 0 and char == ",":
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    if quoted or depth != 0 or escaped:
        raise BadRequest(f"{name}: unbalanced quotes or parentheses.", code="invalid_filter")
    parts.append("".join(current))
    return parts


def _unquoted(text: str) -> str:
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        out, escaped = [], False
        for char in text[1:-1]:
            if escaped or char != "\\":
                out.append(char)
                escaped = False
            else:
                escaped = True
        return "".join(out)
    return text
