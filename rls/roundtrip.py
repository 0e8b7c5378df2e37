"""The text that runs is the tree that was checked.

Every rule reasons about sqlglot's tree; the database runs text.  The two are the same only if
the generated text parses back into the same tree, which sqlglot does not promise: its parser
accepts tokens its printer writes differently (a string after ``AS`` kept as an unquoted name
and printed verbatim was the escape of issue 10).  So rowgate prints the verified tree in one
plain form and proves, for each statement it has not seen before, that the text means the tree:

1. ``check_names`` has refused names that did not come from name tokens, and spelt unquoted
   names as the database resolves them;
2. every identifier is printed quoted (sqlglot's ``identify``), so no name's text can leave its
   quotes, whatever it holds (the printer doubles the quote character inside); on SQLite with
   backticks, since SQLite reads a double-quoted name that resolves to nothing as a string;
3. the text is parsed again in the same dialect and compared with the tree (``first_difference``):
   any difference, or a text that does not parse, refuses the statement (``unverified``) and is
   logged as an error, since it means a gap in rowgate or sqlglot.

The comparison is of ``fingerprint``s: each tree written out as a flat list, node by node in a
fixed order (its class, then each argument present, in key order: the key and the value, a mark
for a child node, or a mark and the length for a list), so that two trees have equal fingerprints
exactly when they are the same tree, except for what printing legitimately changes, and no more:

- a name counts as what the database resolves it to (``rls.names.fold``): an unquoted name the
  tree holds already spelt the database's way comes back quoted, and means the same; sqlglot
  leaves names directly under a function unquoted, and those must be plain ASCII names;
- a dollar-quoted or raw string (``RawString``) comes back as an ordinary string literal with the
  same value;
- a function sqlglot does not know (``Anonymous``) comes back with its name in upper case
  (function names ignore case when unquoted);
- an argument that is absent, ``None``, ``False`` or an empty list is the same absence (sqlglot's
  own equality makes the same choice).

Text the printer writes without quotes besides names (keywords held as strings, ``Var`` nodes
such as ``EXTRACT(epoch ...)`` or ``COLLATE C``, placeholder names, function names, numbers) must
be plain ASCII words or numbers in the text read back, so that no database can read it otherwise
than sqlglot (no quote, dollar, backslash, comment marker or non-ASCII character), even where
sqlglot would read it back alike.

The fingerprint of the verified tree is taken before printing, because sqlglot's printer
rearranges some trees as it prints them (``STRING_AGG``'s ORDER BY, say).

The whole text is read back, although parsing it is the largest part of a miss (issue 15): the
cheaper proofs considered do not catch the same class.  Comparing token streams needs an
expected stream, which only a second printer could give, and it cannot see the parser building
another tree from the right tokens (precedence, a keyword read as a name, issue 10's string after
``AS`` taken as a name).  Reading back only the filters rowgate inserted leaves the caller's
parts unproven, and those are printed anew too (every name quoted, spellings normalised): issue
10's escape was in them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.dialects.sqlite import SQLite
from sqlglot.errors import ErrorLevel, UnsupportedError

from rowgate.rls.errors import QueryRefused
from rowgate.rls.names import folder

log = logging.getLogger(__name__)

Parse = Callable[[str], list[exp.Expr | None]]

#: Nodes whose text the printer writes inside quotes, escaped (any value is safe).
_QUOTED_TEXT = frozenset(
    {exp.RawString, exp.National, exp.ByteString, exp.UnicodeString, exp.HexString, exp.BitString}
)
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*").fullmatch
_PLAIN_WORDS = re.compile(r"[A-Za-z0-9_]+(?: [A-Za-z0-9_]+)*").fullmatch
_PLAIN_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?").fullmatch


def print_verified(expression: exp.Expr, dialect: Dialect, parse: Parse, sql: str) -> str:
    """The text of ``expression`` in ``dialect``, proven to parse back into the same tree;
    ``QueryRefused`` otherwise: ``unsupported`` when sqlglot cannot write part of it in the
    dialect, ``unverified`` when the text reads back as another tree.  ``sql`` is the caller's
    statement (for the log)."""
    expected = fingerprint(expression, dialect)
    text = _print(expression, dialect, sql)
    difference = _read_back(expected, text, dialect, parse)
    if difference is not None:
        log.error(
            "rls: the rewritten statement does not read back as the tree rowgate checked (%s); "
            "refused.  statement: %r  rewritten: %r",
            difference,
            sql,
            text,
        )
        raise QueryRefused(
            f"rowgate could not verify the rewritten statement: printed in {_name(dialect)} it would "
            "not mean what was checked (write it in that dialect's own syntax); it was refused",
            code="unverified",
        )
    return text


def first_difference(checked: exp.Expr, printed: exp.Expr, dialect: Dialect) -> str | None:
    """``None`` when ``printed`` (the parse of the text generated from ``checked``) is the same
    tree, with the allowances the module describes; otherwise where the two differ."""
    return _compare(fingerprint(checked, dialect), fingerprint(printed, dialect, printed=True))


def fingerprint(
    root: exp.Expr, dialect: Dialect, printed: bool = False, *, release: bool = False
) -> list[object]:
    """``root`` as a flat list (see the module's docstring); ``printed``: the tree read back from
    rowgate's text, whose unquoted text must also be plain.  ``release``: the tree is thrown away
    after (the read-back's): each node is unlinked from its parent as it is visited, so that the
    tree is freed as soon as its last reference goes instead of waiting, as reference cycles,
    for the garbage collector (whose collections are a tenth of a miss)."""
    resolve = folder(dialect)
    out: list[object] = []
    emit = out.append
    stack = [root]
    pop, push = stack.pop, stack.append
    expr, identifier, raw = exp.Expr, exp.Identifier, exp.RawString
    plain_name, text_of, child, listed, name = _PLAIN_NAME, _text, _CHILD, _LIST, _NAME
    # One pass over every node of every statement not yet cached: each test below is ordered by
    # how often it is met, and the common values (strings, child nodes) are told apart by class.
    orders = _ORDERS
    while stack:
        node = pop()
        if release:
            node.parent = None
        cls, args = node.__class__, node.args
        if cls is identifier:
            text, quoted = args.get("this"), bool(args.get("quoted"))
            if text.__class__ is not str or (printed and not quoted and not plain_name(text)):
                emit(_Mark(f"name {text!r}"))  # equal to nothing
            else:
                # the mark, then the name as resolved (two items rather than a tuple: no
                # allocation per name; a name mark is always followed by exactly one text)
                emit(name)
                emit(resolve(text, quoted))
            if args.keys() <= _NAME_ARGS:
                continue
            args = {k: v for k, v in args.items() if k not in _NAME_ARGS}
        elif cls is raw:
            cls = exp.Literal  # printed as an ordinary string literal holding the same value
            args = {"this": args.get("this"), "is_string": True}
        emit(cls)
        # in key order: the same for both trees, whatever order their arguments were set in
        ordered: Iterable[str] = args
        if len(args) > 1:
            keys = tuple(args)
            found = orders.get(keys)
            if found is None:
                found = tuple(sorted(keys))
                if len(orders) < _MAX_ORDERS:
                    orders[keys] = found
            ordered = found
        for key in ordered:
            value = args[key]
            if value is None or value is False:
                continue
            kind = value.__class__
            if kind is list:
                if not value:
                    continue
                emit(key)
                emit(listed)
                emit(len(value))
                for item in value:
                    if isinstance(item, expr):
                        emit(child)
                        push(item)
                    else:
                        emit(text_of(cls, args, item, printed))
            elif kind is str:
                emit(key)
                emit(text_of(cls, args, value, printed))
            elif isinstance(value, expr):
                emit(key)
                emit(child)
                push(value)
            else:
                emit(key)
                emit(value)  # a number or a flag: compared as it is (``_text`` keeps it)
    return out


class _Mark:
    """A marker in a fingerprint, equal only to itself."""

    __slots__ = ("what",)

    def __init__(self, what: str) -> None:
        self.what = what

    def __repr__(self) -> str:
        return f"<{self.what}>"


_CHILD = _Mark("child")
_LIST = _Mark("list")
_NAME = _Mark("name")
_NAME_ARGS = frozenset({"this", "quoted"})
#: A node's argument names (in the order they were set) sorted, looked up rather than sorted
#: for every node: the combinations are few (sqlglot's argument names per class).
_ORDERS: dict[tuple[str, ...], tuple[str, ...]] = {}
_MAX_ORDERS = 4096


def _text(cls: type[exp.Expr], args: dict[str, object], value: object, printed: bool) -> object:
    """A text argument as it is compared; text printed without quotes must be plain once read
    back (a mark, equal to nothing, when it is not)."""
    if value.__class__ is not str:
        return value
    if cls in _QUOTED_TEXT or (cls is exp.Literal and args.get("is_string") is True):
        return value  # written inside quotes, escaped by the printer
    if cls is exp.Literal:
        plain = _PLAIN_NUMBER(value)
    elif cls is exp.Anonymous:
        value, plain = value.lower(), _PLAIN_NAME(value)
    else:
        plain = _PLAIN_WORDS(value)
    return value if plain or not printed else _Mark(f"unquoted text {value!r}")


def _compare(expected: list[object], found: list[object]) -> str | None:
    if expected == found:
        return None
    at = next((i for i, (a, b) in enumerate(zip(expected, found, strict=False)) if a != b), None)
    if at is None:
        at = min(len(expected), len(found))
    return f"checked {_show(expected, at)}, read back {_show(found, at)}"


def _show(items: list[object], at: int) -> str:
    shown = (
        item.__name__ if isinstance(item, type) else repr(item) for item in items[max(0, at - 6) : at + 2]
    )
    return "[... " + ", ".join(shown) + "]"


def _print(expression: exp.Expr, dialect: Dialect, sql: str) -> str:
    generator = dialect.generator(comments=False, identify=True, unsupported_level=ErrorLevel.RAISE)
    if isinstance(dialect, SQLite):
        # SQLite reads a double-quoted name it cannot resolve as a string; backticks are always
        # names there.
        generator._identifier_start = generator._identifier_end = "`"
        generator._escaped_identifier_end = "``"
    try:
        return generator.generate(expression, copy=False)
    except UnsupportedError as error:
        detail = f"this statement cannot be written in {_name(dialect)} as it was checked: {str(error)[:200]}"
    except RecursionError:
        raise
    except Exception as error:  # sqlglot's printer, failing on an odd tree it parsed
        log.warning("rls: sqlglot could not print a statement (%s): %r", type(error).__name__, sql)
        detail = f"this statement cannot be written in {_name(dialect)}"
    raise QueryRefused(detail, code="unsupported")


def _read_back(expected: list[object], text: str, dialect: Dialect, parse: Parse) -> str | None:
    """How the parse of ``text`` differs from the tree of fingerprint ``expected``."""
    try:
        statements = [s for s in parse(text) if s is not None]
    except Exception as error:  # any failure to read our own text back is a refusal
        return f"the text does not parse ({type(error).__name__})"
    if len(statements) != 1:
        return f"the text parses as {len(statements)} statements"
    return _compare(expected, fingerprint(statements[0], dialect, printed=True, release=True))


def _name(dialect: Dialect) -> str:
    return type(dialect).__name__
