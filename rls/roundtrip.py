"""The text that runs is the tree that was checked.

Every rule reasons about sqlglot's tree; the database runs text.  The two are the same only if
the generated text parses back into the same tree, which sqlglot does not promise: its parser
accepts tokens its printer writes differently (a string after ``AS`` kept as an unquoted name
and printed verbatim was the escape of issue 10).  So rowgate prints the verified tree in one
plain form and proves, for each statement it has not seen before, that the text means the tree:

1. ``check_names`` has refused names that did not come from name tokens, and spelt unquoted
   names as the database resolves them;
2. every identifier is printed quoted (sqlglot's ``identify``), so no name's text can leave its
   quotes, whatever it holds (the printer doubles the quote character inside);
3. the text is parsed again in the same dialect and compared with the tree node by node
   (``first_difference``); any difference, or a text that does not parse, refuses the statement
   (``unverified``) and is logged as an error, since it means a gap in rowgate or sqlglot.

The comparison is exact, except for what printing legitimately changes, and no more:

- an identifier the tree holds unquoted comes back quoted (its spelling is already the
  database's, so quoting it names the same thing); sqlglot leaves names directly under a
  function unquoted, and those must be plain ASCII names;
- a dollar-quoted or raw string (``RawString``) comes back as an ordinary string literal with the
  same value;
- a function sqlglot does not know (``Anonymous``) comes back with its name in upper case
  (function names ignore case when unquoted);
- an argument that is absent, ``None``, ``False`` or an empty list is the same absence (sqlglot's
  own equality makes the same choice).

Text the printer writes without quotes besides names (keywords held as strings, ``Var`` nodes
such as ``EXTRACT(epoch ...)`` or ``COLLATE C``, function names, numbers) must be plain ASCII
words or numbers, so that no database can read it differently from sqlglot (no quote, dollar,
backslash, comment marker or non-ASCII character), even where sqlglot would read it back alike.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel, UnsupportedError

from config.errors import QueryRefused
from rls.clone import clone
from rls.names import spelling

log = logging.getLogger(__name__)

Parse = Callable[[str], list[exp.Expr | None]]

#: Nodes whose text the printer writes inside quotes, escaped (any value is safe).
_QUOTED_TEXT = (exp.RawString, exp.National, exp.ByteString, exp.UnicodeString, exp.HexString, exp.BitString)
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*").fullmatch
_PLAIN_WORDS = re.compile(r"[A-Za-z0-9_]+(?: [A-Za-z0-9_]+)*").fullmatch
_PLAIN_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?").fullmatch


def print_verified(expression: exp.Expr, dialect: Dialect, parse: Parse, sql: str) -> str:
    """The text of ``expression`` in ``dialect``, proven to parse back into the same tree;
    ``QueryRefused`` otherwise: ``unsupported`` when sqlglot says the dialect cannot express part
    of it, ``unverified`` when the text reads back as another tree.  ``sql`` is the caller's
    statement (for the log)."""
    generator = dialect.generator(comments=False, identify=True, unsupported_level=ErrorLevel.RAISE)
    try:
        # sqlglot's printer rearranges some trees as it prints them: print a copy, keep the tree.
        text = generator.generate(clone(expression), copy=False)
    except UnsupportedError as error:
        raise QueryRefused(
            f"this statement cannot be written in {_name(dialect)} as it was checked: {str(error)[:200]}",
            code="unsupported",
        ) from None
    try:
        statements = [s for s in parse(text) if s is not None]
    except Exception as error:  # any failure to read our own text back is a refusal
        difference: str | None = f"the text does not parse ({type(error).__name__})"
    else:
        if len(statements) != 1:
            difference = f"the text parses as {len(statements)} statements"
        else:
            difference = first_difference(expression, statements[0], dialect)
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


def _name(dialect: Dialect) -> str:
    return type(dialect).__name__


def first_difference(checked: exp.Expr, printed: exp.Expr, dialect: Dialect) -> str | None:
    """``None`` when ``printed`` (the parse of the text generated from ``checked``) is the same
    tree, with the allowances the module describes; otherwise where the two differ."""
    stack = [(checked, printed)]
    while stack:
        a, b = stack.pop()
        if a.__class__ is not b.__class__:
            if not _same_string(a, b):
                return f"{a.key} printed as {b.key}"
            continue
        args_a, args_b = a.args, b.args
        identifier = a.__class__ is exp.Identifier
        if identifier and not _same_quoting(a, b, dialect):  # type: ignore[arg-type]
            return f"identifier {a.this!r} changed its quoting"
        for key, va in args_a.items():
            if identifier and key == "quoted":
                continue
            vb = args_b.get(key)
            if _absent(va):
                if _absent(vb):
                    continue
                return f"{a.key}.{key} appeared"
            if isinstance(va, exp.Expr):
                if not isinstance(vb, exp.Expr):
                    return f"{a.key}.{key} changed"
                stack.append((va, vb))
            elif type(va) is list:
                if type(vb) is not list or len(va) != len(vb):
                    return f"{a.key}.{key} changed length"
                for x, y in zip(va, vb, strict=True):
                    if isinstance(x, exp.Expr) and isinstance(y, exp.Expr):
                        stack.append((x, y))
                    elif not _same_item(a, x, y):
                        return f"{a.key}.{key} changed"
            elif type(va) is str:
                if type(vb) is not str or not _same_text(a, va, vb):
                    return f"{a.key}.{key} {va!r} printed as {vb!r}"
            elif va != vb:
                return f"{a.key}.{key} {va!r} printed as {vb!r}"
        for key, vb in args_b.items():
            if key not in args_a and not _absent(vb) and not (identifier and key == "quoted"):
                return f"{a.key}.{key} appeared"
    return None


def _absent(value: object) -> bool:
    return value is None or value is False or (type(value) is list and not value)


def _same_item(node: exp.Expr, checked: object, printed: object) -> bool:
    if isinstance(checked, str) and isinstance(printed, str):
        return _same_text(node, checked, printed)
    return not isinstance(checked, exp.Expr) and not isinstance(printed, exp.Expr) and checked == printed


def _same_text(node: exp.Expr, checked: str, printed: str) -> bool:
    """Whether a text argument of ``node`` reads back the same, and was printed safely."""
    cls = node.__class__
    if cls is exp.Identifier or isinstance(node, _QUOTED_TEXT):
        return checked == printed  # quoted by the printer (identifiers: see _same_quoting)
    if cls is exp.Literal:
        return checked == printed and (node.args.get("is_string") is True or bool(_PLAIN_NUMBER(printed)))
    if cls is exp.Anonymous:
        return checked.lower() == printed.lower() and bool(_PLAIN_NAME(printed))
    return checked == printed and bool(_PLAIN_WORDS(printed))


def _same_quoting(checked: exp.Identifier, printed: exp.Identifier, dialect: Dialect) -> bool:
    if printed.quoted:
        # quoting an unquoted name keeps its meaning only once it is spelt the database's way
        return checked.quoted or spelling(checked.this, dialect) == checked.this
    return not checked.quoted and bool(_PLAIN_NAME(printed.this))


def _same_string(checked: exp.Expr, printed: exp.Expr) -> bool:
    # A dollar-quoted or raw string is printed as an ordinary literal holding the same value.
    return (
        checked.__class__ is exp.RawString
        and printed.__class__ is exp.Literal
        and printed.args.get("is_string") is True
        and checked.this == printed.this
    )
