"""Rewritten statements as templates: the SQL text with holes for the subject's values.

A template depends only on the statement, the dialect, the policy version and the subject's
signature, so it is cached under those and filled per request.  On PostgreSQL the holes are
bind parameters and filling them builds the parameter tuple; elsewhere the holes are sentinel
literals in the generated text, split out once, and filled with the values quoted by sqlglot for
the dialect (a string literal with its quotes and escapes, whatever the value holds).

Refusals are cached too (``Refusal``), so the same bad statement is not parsed again and again.

Both know what the statement does to each table (when the rewrite got that far), so that a
caller's table permissions are checked first (``permit``): a missing permission is reported
before the policy's own refusal, as the permission check sits before the row policy.
"""

from __future__ import annotations

import contextlib
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from rowgate.rls import errors
from rowgate.rls.context import TableRule
from rowgate.rls.errors import QueryRefused, WriteRefused
from rowgate.rls.newrow import Check
from rowgate.rls.subject import Subject

#: ``(resource, action)`` pairs: what a statement does to each table (``("tasks", "read")``).
Operations = tuple[tuple[str, str], ...]
#: Called with the permissions a statement needs before it is rendered or refused; raises to stop.
Permit = Callable[[tuple[str, ...]], None]


def permissions_of(operations: Operations) -> tuple[str, ...]:
    """``resource:action`` for each operation, in order."""
    return tuple(f"{resource}:{action}" for resource, action in operations)


@dataclass(frozen=True, slots=True)
class Rewritten:
    """A statement ready to run: its text, rowgate's values to bind, its kind, and which rule
    applied to each table (for ``explain``).

    On PostgreSQL, bind ``*caller_params, *params``: rowgate's parameters are numbered after
    the caller's.  Other dialects get the values inlined as literals and ``params`` is empty.
    ``discard_rows``: the statement returns rows only because rowgate checks an INSERT's new
    rows in a RETURNING list of its own; whoever runs it drops them (``proxy.data.execute`` does).
    ``operations``: what the statement does to each table, as ``(resource, action)`` pairs
    (``("tasks", "read")``), for table permissions (``rls.rules.list_operations``).
    """

    sql: str
    params: tuple[str, ...]
    kind: str
    tables: tuple[TableRule, ...]
    discard_rows: bool = False
    operations: Operations = ()

    @property
    def permissions(self) -> tuple[str, ...]:
        """The permissions the statement needs, ``resource:action``, in order."""
        return permissions_of(self.operations)


@dataclass(frozen=True, slots=True)
class Template:
    """A rewritten statement with holes for the subject's values."""

    parts: tuple[str, ...]
    slots: tuple[str, ...]
    kind: str
    tables: tuple[TableRule, ...]
    checks: tuple[Check, ...]
    dialect: Dialect | None
    discard_rows: bool = False
    operations: Operations = ()

    def render(self, subject: Subject, permit: Permit | None = None) -> Rewritten:
        """The statement for ``subject``, once ``permit`` accepts its permissions;
        ``WriteRefused`` when a new row needs other values."""
        if permit is not None:
            permit(permissions_of(self.operations))
        values = {"tenant": subject.tenant_id, "user": subject.user_id}
        for check in self.checks:
            if not check.holds(values):
                raise WriteRefused(check.message, code="write_refused")
        bound = tuple(values[slot] or "" for slot in self.slots)
        if self.dialect is None:
            return Rewritten(self.parts[0], bound, self.kind, self.tables, self.discard_rows, self.operations)
        pieces = [self.parts[0]]
        for value, part in zip(bound, self.parts[1:], strict=True):
            pieces.append(exp.Literal.string(value).sql(self.dialect))
            pieces.append(part)
        return Rewritten("".join(pieces), (), self.kind, self.tables, self.discard_rows, self.operations)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A cached refusal: the same error, raised afresh for each request."""

    error: type[errors.Refusal]
    detail: str
    code: str
    #: What the statement does to each table, when the rewrite learnt it before refusing.
    operations: Operations = ()

    def render(self, subject: Subject, permit: Permit | None = None) -> Rewritten:
        """Raise the refusal (once ``permit`` accepts the permissions, when they are known)."""
        if permit is not None and self.operations:
            permit(permissions_of(self.operations))
        raise self.error(self.detail, code=self.code)

    @classmethod
    def of(cls, error: QueryRefused | WriteRefused, operations: Operations = ()) -> Refusal:
        """The cacheable form of ``error``."""
        return cls(type(error), error.detail, error.code, operations)


def split_sentinels(
    text: str, nonce: str, dialect: Dialect, slots: list[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Cut generated SQL at each sentinel literal ``'<nonce><n>'``: the pieces of text between
    them, and the slot of each sentinel in the order they appear (which need not be the order
    rowgate made them in).  Each sentinel must appear exactly once."""
    sample = exp.Literal.string(nonce + "0").sql(dialect)
    start, end = sample.split(nonce + "0")
    pattern = re.compile(re.escape(start) + re.escape(nonce) + r"(\d+)" + re.escape(end))
    pieces = pattern.split(text)
    numbers = [int(n) for n in pieces[1::2]]
    if sorted(numbers) != list(range(len(slots))):
        raise QueryRefused("rowgate could not place its values in the rewritten statement", code="unverified")
    return tuple(pieces[0::2]), tuple(slots[n] for n in numbers)


K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """A small least-recently-used cache."""

    __slots__ = ("_data", "_size")

    def __init__(self, size: int) -> None:
        self._size = size
        self._data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The value cached under ``key`` (marked as recently used), or ``None``."""
        value = self._data.get(key)
        if value is not None:
            # Another thread may evict the key in between: a miss, never an error.
            with contextlib.suppress(KeyError):
                self._data.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        """Cache ``value`` under ``key``, dropping the least recently used entry when full."""
        if self._size <= 0:
            return
        self._data[key] = value
        with contextlib.suppress(KeyError):
            self._data.move_to_end(key)
            while len(self._data) > self._size:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)
