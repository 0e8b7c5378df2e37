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
from sqlglot.dialects.sqlite import SQLite
from sqlglot.errors import ErrorLevel, UnsupportedError

from config.errors import QueryRefused
from rls.clone import clone
from rls.names import Speller, speller

log = logging.getLogger(__name__)

Parse = Callable[[str], list[exp.Expr | None]]

#: Nodes whose text the printer writes inside quotes, escaped (any value is safe).
_QUOTED_TEXT = (exp.RawString, exp.National, exp.ByteString, exp.UnicodeString, exp.HexString, exp.BitString)
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*").fullmatch
_PLAIN_WORDS = re.compile(r"[A-Za-z0-9_]+(?: [A-Za-z0-9_]+)*").fullmatch
_PLAIN_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?").fullmatch


def print_verified(expression: exp.Expr, dialect: Dialect, parse: Parse, sql: str) -> str:
    """The text of ``expression`` in ``dialect``, proven to parse back into the same tree;
    ``QueryRefused`` otherwise: ``unsupported`` when sqlglot cannot write part of it in the
    dialect, ``unverified`` when the text reads back as another tree.  ``sql`` is the caller's
    statement (for the log)."""
    text = _print(expression, dialect, sql)
    difference = _read_back(expression, text, dialect, parse)
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


def _print(expression: exp.Expr, dialect: Dialect, sql: str) -> str:
    generator = dialect.generator(comments=False, identify=True, unsupported_level=ErrorLevel.RAISE)
    if isinstance(dialect, SQLite):
        # SQLite reads a double-quoted name it cannot resolve as a string; backticks are always
        # names there.
        generator._identifier_start = generator._identifier_end = "`"
        generator._escaped_identifier_end = "``"
    try:
        # sqlglot's printer rearranges some trees as it prints them: print a copy, keep the tree.
        return generator.generate(clone(expression), copy=False)
    except UnsupportedError as error:
        detail = f"this statement cannot be written in {_name(dialect)} as it was checked: {str(error)[:200]}"
    except RecursionError:
        raise
    except Exception as error:  # sqlglot's printer, failing on an odd tree it parsed
        log.warning("rls: sqlglot could not print a statement (%s): %r", type(error).__name__, sql)
        detail = f"this statement cannot be written in {_name(dialect)}"
    raise QueryRefused(detail, code="unsupported")


def _read_back(expression: exp.Expr, text: str, dialect: Dialect, parse: Parse) -> str | None:
    """How the parse of ``text`` differs from ``expression`` (``None``: it does not)."""
    try:
        statements = [s for s in parse(text) if s is not None]
    except Exception as error:  # any failure to read our own text back is a refusal
        return f"the text does not parse ({type(error).__name__})"
    if len(statements) != 1:
        return f"the text parses as {len(statements)} statements"
    return first_difference(expression, statements[0], dialect)


def _name(dialect: Dialect) -> str:
    return type(dialect).__name__


def first_difference(checked: exp.Expr, printed: exp.Expr, dialect: Dialect) -> str | None:
    """``None`` when ``printed`` (the parse of the text generated from ``checked``) is the same
    tree, with the allowances the module describes; otherwise where the two differ."""
    spell = speller(dialect)
    expr, identifier = exp.Expr, exp.Identifier
    stack = [(checked, printed)]
    pop, push = stack.pop, stack.append
    while stack:
        a, b = pop()
        cls = a.__class__
        if cls is not b.__class__:
            if not _same_string(a, b):
                return f"{a.key} printed as {b.key}"
            continue
        args_a, args_b = a.args, b.args
        if cls is identifier:
            if not _same_name(a, b, spell):  # type: ignore[arg-type]
                return f"identifier {a.this!r} printed as {b.this!r}"
            if _name_only(args_a) and _name_only(args_b):
                continue
        for key, va in args_a.items():
            if key == "quoted" and cls is identifier:
                continue  # compared by _same_name
            vb = args_b.get(key)
            if va is None or va is False or (va.__class__ is list and not va):
                if _absent(vb):
                    continue
                return f"{a.key}.{key} appeared"
            if isinstance(va, expr):
                if not isinstance(vb, expr):
                    return f"{a.key}.{key} changed"
                push((va, vb))
            elif va.__class__ is list:
                if vb.__class__ is not list or len(va) != len(vb):
                    return f"{a.key}.{key} changed length"
                for x, y in zip(va, vb, strict=True):
                    if isinstance(x, expr) and isinstance(y, expr):
                        push((x, y))
                    elif not _same_item(a, x, y):
                        return f"{a.key}.{key} changed"
            elif va.__class__ is str:
                if vb.__class__ is not str or not _same_text(a, va, vb):
                    return f"{a.key}.{key} {va!r} printed as {vb!r}"
            elif va != vb:
                return f"{a.key}.{key} {va!r} printed as {vb!r}"
        for key in args_b:
            if key not in args_a and not _absent(args_b[key]) and not (key == "quoted" and cls is identifier):
                return f"{a.key}.{key} appeared"
    return None


def _name_only(args: dict[str, object]) -> bool:
    """Whether an identifier's arguments are its text and quoting and nothing else."""
    size = len(args)
    return "this" in args and (size == 1 or (size == 2 and "quoted" in args))


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
        return checked == printed  # quoted by the printer (identifiers: see _same_name)
    if cls is exp.Literal:
        return checked == printed and (node.args.get("is_string") is True or bool(_PLAIN_NUMBER(printed)))
    if cls is exp.Anonymous:
        return checked.lower() == printed.lower() and bool(_PLAIN_NAME(printed))
    return checked == printed and bool(_PLAIN_WORDS(printed))


def _same_name(checked: exp.Identifier, printed: exp.Identifier, spell: Speller) -> bool:
    text = checked.args.get("this")
    if not isinstance(text, str) or text != printed.args.get("this"):
        return False
    if printed.args.get("quoted"):
        # quoting an unquoted name keeps its meaning only once it is spelt the database's way
        return bool(checked.args.get("quoted")) or spell is None or spell(text) == text
    return not checked.args.get("quoted") and bool(_PLAIN_NAME(text))


def _same_string(checked: exp.Expr, printed: exp.Expr) -> bool:
    # A dollar-quoted or raw string is printed as an ordinary literal holding the same value.
    return (
        checked.__class__ is exp.RawString
        and printed.__class__ is exp.Literal
        and printed.args.get("is_string") is True
        and checked.this == printed.this
    )
