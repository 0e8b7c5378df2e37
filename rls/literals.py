"""Literal values of a PostgreSQL read taken out as bind parameters, at the token level, so that
statements differing only in those values share one cached template.

    normalise("SELECT * FROM tasks WHERE id = 42 AND title = 'a'", params_count=0)
    → Normalised("SELECT * FROM tasks WHERE id = $1::int4 AND title = $2", ("42", "a"), ("int4", "text"))

The statement is tokenized (never parsed) and a literal is replaced only where a bind parameter
means the same thing: a plain string (``'...'``, no prefix) or an unsigned decimal number
standing alone as the right operand of ``=``, ``<>``, ``!=``, ``<``, ``>``, ``<=``, ``>=``,
``LIKE`` or ``ILIKE`` in a ``SELECT`` (or ``WITH``) statement that writes nothing.  Everything
else stays inline and part of the cache key: literals in function arguments (``date_trunc('day',
...)``, ``nextval('seq')``, ``set_config(...)``), casts and typed literals (``'t'::regclass``,
``DATE '...'``, ``INTERVAL '...'``), ``LIMIT``/``OFFSET``/``FETCH`` counts, ``IN`` lists,
``ARRAY[...]``, ``ORDER BY``/``GROUP BY`` positions, signed numbers, ``E''``, ``U&''``, ``B''``,
``X''``, ``N''`` and dollar-quoted strings, ``NULL``/``TRUE``/``FALSE``, and every literal of a
statement that writes (new-row checks read written values).

A number keeps the type PostgreSQL gives the literal (``integer``, ``bigint`` or ``numeric`` by
its size and form) through a cast written after its parameter (``$3::int4``).  A string becomes
an untyped parameter, which PostgreSQL types from its context as it would the untyped literal;
whoever binds it must check that type is one whose value is the text itself
(``TEXT_LIKE``), and use the statement as written otherwise.

A statement is left as it is (``None``) when it does not tokenize, is longer than ``max_length``,
holds parameters other than ``$1 .. $params_count``, or offers no literal to take out.  Each
parameter added is numbered after the caller's: ``$params_count+1 ...``.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from sqlglot.errors import SqlglotError
from sqlglot.tokenizer_core import Token, TokenType
from sqlglot.tokens import Tokenizer

from rowgate.rls.names import dialect_of

__all__ = ["TEXT_LIKE", "Normalised", "normalise"]

#: The parameter types a string literal may take as a parameter: PostgreSQL reads the bound text
#: exactly as it reads the literal (``uuid`` when the connection sends uuids as text).
TEXT_LIKE = frozenset({"text", "varchar", "bpchar", "name", "uuid"})
#: At most this many literals are taken out of one statement.
MAX_LITERALS = 100
#: Numbers longer than this stay inline.
MAX_DIGITS = 1000

_OPERATORS = {
    TokenType.EQ: ("=",),
    TokenType.NEQ: ("<>", "!="),
    TokenType.LT: ("<",),
    TokenType.GT: (">",),
    TokenType.LTE: ("<=",),
    TokenType.GTE: (">=",),
    TokenType.LIKE: ("like",),
    TokenType.ILIKE: ("ilike",),
}
#: Tokens that may not follow a literal taken out: they would bind to it (``::``, ``COLLATE``,
#: ``[``, ``.``), continue it (another string), or make it an argument (``(``).
_BINDING_NEXT = frozenset(
    {
        TokenType.DCOLON,
        TokenType.COLLATE,
        TokenType.L_BRACKET,
        TokenType.DOT,
        TokenType.L_PAREN,
        TokenType.STRING,
        TokenType.NUMBER,
        TokenType.PARAMETER,
    }
)
#: Statements with any of these tokens keep their literals (writes, ``SELECT ... INTO``, ``FOR
#: UPDATE``, settings).
_WRITING = frozenset(
    {
        TokenType.INSERT,
        TokenType.UPDATE,
        TokenType.DELETE,
        TokenType.MERGE,
        TokenType.SET,
        TokenType.INTO,
        TokenType.COMMAND,
        TokenType.REPLACE,
    }
)
_FIRST = frozenset({TokenType.SELECT, TokenType.WITH})
_OPERATOR_CHARS = frozenset("+-*/<>=~!@#%^&|`?")
_WORD = re.compile(r"[\w$.'\"&]")
#: A literal right after a comparison: statements without one are not tokenized at all (a
#: comment between the two only means the literal stays inline).
_COMPARED = re.compile(r"[=<>]\s*['0-9]")
_LIKED = re.compile(r"[eE]\s*'")
_INTEGER = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"[0-9]+\.[0-9]+")
_INT4_MAX = 2**31 - 1
_INT8_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Normalised:
    """A statement with literals taken out: its text with ``$n`` in their place, the value of each
    as text (in the order of the parameters), and each one's type: ``text`` (an untyped
    parameter holding a string), ``int4``, ``int8`` or ``numeric`` (a cast parameter holding the
    number's digits)."""

    sql: str
    values: tuple[str, ...]
    kinds: tuple[str, ...]


_local = threading.local()


def _tokenizer() -> Tokenizer:
    tokenizer: Tokenizer | None = getattr(_local, "tokenizer", None)
    if tokenizer is None:
        tokenizer = _local.tokenizer = dialect_of("postgres").tokenizer()
    return tokenizer


def normalise(sql: str, params_count: int, *, max_length: int = 100_000) -> Normalised | None:
    """``sql`` (PostgreSQL) with its plain value literals as parameters ``$params_count+1 ...``,
    or ``None`` when it is better left as it is (see the module's documentation)."""
    if len(sql) > max_length or "\x00" in sql or not _candidate(sql) or not _encodable(sql):
        return None
    try:
        tokens = _tokenizer().tokenize(sql)
    except (SqlglotError, ValueError, IndexError, KeyError, TypeError):
        return None
    if not tokens or tokens[0].token_type not in _FIRST:
        return None
    if any(t.token_type in _WRITING for t in tokens) or not _parameters_bound(tokens, params_count):
        return None
    pieces: list[str] = []
    values: list[str] = []
    kinds: list[str] = []
    done = 0
    for index, token in enumerate(tokens):
        if index == 0 or not _value_position(sql, tokens, index):
            continue
        found = _literal(sql, token)
        if found is None:
            continue
        value, kind = found
        number = params_count + len(values) + 1
        hole = f"${number}" if kind == "text" else f"${number}::{kind}"
        pieces.append(sql[done : token.start])
        pieces.append(f" {hole} ")
        done = token.end + 1
        values.append(value)
        kinds.append(kind)
        if len(values) >= MAX_LITERALS:
            break
    if not values:
        return None
    pieces.append(sql[done:])
    return Normalised("".join(pieces), tuple(values), tuple(kinds))


def _candidate(sql: str) -> bool:
    """Whether a literal may follow a comparison or ``LIKE`` (cheaper than tokenizing)."""
    return bool(_COMPARED.search(sql) or ("'" in sql and _LIKED.search(sql)))


def _encodable(sql: str) -> bool:
    if sql.isascii():
        return True
    try:
        sql.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _parameters_bound(tokens: list[Token], params_count: int) -> bool:
    """Whether every parameter is ``$n`` with ``1 <= n <= params_count`` (the others are refused
    by the rewriter, whose message should not change)."""
    for index, token in enumerate(tokens):
        if token.token_type is TokenType.PARAMETER:
            after = tokens[index + 1] if index + 1 < len(tokens) else None
            if (
                token.text != "$"
                or after is None
                or after.start != token.end + 1
                or not _INTEGER.fullmatch(after.text)
                or len(after.text) > 6
                or not 1 <= int(after.text) <= params_count
            ):
                return False
        elif token.token_type in (TokenType.PLACEHOLDER, TokenType.COLON):
            return False
    return True


def _value_position(sql: str, tokens: list[Token], index: int) -> bool:
    """Whether the token at ``index`` stands alone as the right operand of a comparison."""
    operator = tokens[index - 1]
    spelling = _OPERATORS.get(operator.token_type)
    if spelling is None:
        return False
    raw = sql[operator.start : operator.end + 1]
    if (raw.lower() if raw.isalpha() else raw) not in spelling:
        return False
    if operator.start > 0 and sql[operator.start - 1] in _OPERATOR_CHARS:
        return False  # part of a longer operator PostgreSQL reads as one (``~=``)
    if index + 1 < len(tokens) and tokens[index + 1].token_type in _BINDING_NEXT:
        return False
    token = tokens[index]
    before = sql[token.start - 1] if token.start > 0 else " "
    after = sql[token.end + 1] if token.end + 1 < len(sql) else " "
    return not (_WORD.match(before) or _WORD.match(after) or after in _OPERATOR_CHARS)


def _literal(sql: str, token: Token) -> tuple[str, str] | None:
    """The value and type of a plain literal token, or ``None`` for anything else."""
    raw = sql[token.start : token.end + 1]
    if token.token_type is TokenType.STRING:
        if raw != "'" + token.text.replace("'", "''") + "'":
            return None  # not the plain '...' spelling whose value is its text
        return token.text, "text"
    if token.token_type is TokenType.NUMBER and raw == token.text and len(raw) <= MAX_DIGITS:
        if _INTEGER.fullmatch(raw):
            if len(raw) > 19:
                return raw, "numeric"
            number = int(raw)
            return raw, "int4" if number <= _INT4_MAX else "int8" if number <= _INT8_MAX else "numeric"
        if _DECIMAL.fullmatch(raw):
            return raw, "numeric"
    return None
