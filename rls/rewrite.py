"""The rewriter: SQL in, SQL confined to the caller's rows out (or a refusal).

    rewriter = Rewriter(load_policies("policies.yaml"), "postgres", schema=introspected)
    rewritten = rewriter.rewrite("SELECT * FROM tasks WHERE id = $1", subject, params_count=1)
    rows = await conn.fetch(rewritten.sql, task_id, *rewritten.params)

The statement is parsed in the dialect, then passed through ``rls.rules.RULES`` (checks, CTE
renaming, table resolution, write guards, read filters, and the verifier last), generated back
without comments and with every name quoted, parsed again and compared with the verified tree
(``rls.roundtrip``), and cached as a template under (SQL text, dialect, the subject's group
signature (with its role when a table names it), the policy version, the caller's parameter
count).  The template lists what the statement does to each table (``Rewritten.operations``), so
that callers check table permissions without parsing again.  ``rewrite`` raises
``QueryRefused`` or ``WriteRefused`` and nothing else, whatever the input.
"""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError
from sqlglot.parser import Parser
from sqlglot.tokenizer_core import Token, TokenType
from sqlglot.tokens import Tokenizer

from rowgate.errors import ConfigError
from rowgate.rls.context import PARAMETER_DIALECTS, Binder, Inputs
from rowgate.rls.errors import QueryRefused, WriteRefused
from rowgate.rls.fences import fence_for
from rowgate.rls.findings import Findings, TableOperations, explained
from rowgate.rls.names import dialect_of
from rowgate.rls.policy import PolicySet
from rowgate.rls.roundtrip import print_verified
from rowgate.rls.rules import RULES
from rowgate.rls.schema import Schema, SchemaInput, schema_problems
from rowgate.rls.subject import Signature, Subject
from rowgate.rls.template import LRU, Permit, Refusal, Rewritten, Template, split_sentinels

__all__ = ["Rewriter", "Rewritten"]

log = logging.getLogger(__name__)

MAX_SQL_LENGTH = 100_000
#: Limits that keep hostile input far from the depths where sqlglot's compiled parser recurses
#: without checking (tens of thousands of nested parentheses crash the interpreter).
MAX_TOKENS = 20_000
MAX_NESTING = 100
_OPENING = frozenset({TokenType.L_PAREN, TokenType.L_BRACKET, TokenType.L_BRACE})
_CLOSING = frozenset({TokenType.R_PAREN, TokenType.R_BRACKET, TokenType.R_BRACE})
#: Tokens that hold a string, in any dialect's spelling (``rls.rules.check_names`` refuses them
#: where a name should be).
_STRINGS = frozenset(
    {
        TokenType.STRING,
        TokenType.NATIONAL_STRING,
        TokenType.HEREDOC_STRING,
        TokenType.RAW_STRING,
        TokenType.NATIONAL_RAW_STRING,
        TokenType.BIT_STRING,
        TokenType.HEX_STRING,
        TokenType.BYTE_STRING,
        TokenType.UNICODE_STRING,
    }
)


class Rewriter:
    """Rewrites statements for subjects under one policy set, in one dialect."""

    def __init__(
        self,
        policies: PolicySet,
        dialect: str | None = None,
        *,
        schema: Schema | SchemaInput | None = None,
        cache_size: int = 4096,
        literals: bool = False,
    ) -> None:
        """``literals`` writes the subject's values into the SQL as quoted literals even where the
        dialect has bind parameters (SQL forwarded to an upstream service, which cannot receive
        rowgate's parameters); dialects without parameters always get literals."""
        self.policies = policies
        self.dialect_name = dialect or policies.dialect
        try:
            self.dialect = dialect_of(self.dialect_name)
        except ValueError:
            raise ConfigError([f"unknown SQL dialect {self.dialect_name!r}"]) from None
        fence_for(self.dialect_name)  # a dialect whose filters cannot be fenced is refused
        self.schema = schema if isinstance(schema, Schema) else Schema(schema, policies.schema)
        problems = schema_problems(policies, self.schema)
        if problems:
            raise ConfigError([f"{policies.source}: {line}" for line in problems])
        self.literals = literals or self.dialect_name not in PARAMETER_DIALECTS
        self._parametric = not self.literals
        self._nonce = f"rowgatevalue{secrets.token_hex(8)}x"
        self._cache: LRU[tuple[str, str, Signature, str, int], Template | Refusal] = LRU(cache_size)
        self._local = threading.local()

    def _tools(self) -> _Tools:
        """This thread's tokenizer and parser (both reset themselves on every use; building them
        costs more than a short statement's tokenizing)."""
        tools: _Tools | None = getattr(self._local, "tools", None)
        if tools is None:
            tools = self._local.tools = _Tools(self.dialect.tokenizer(), self.dialect.parser())
        return tools

    def rewrite(
        self, sql: str, subject: Subject, params_count: int = 0, *, permit: Permit | None = None
    ) -> Rewritten:
        """``sql`` confined to ``subject``'s rows; raises ``QueryRefused`` or ``WriteRefused``.

        ``permit`` is called first with the permissions the statement needs (``tasks:read``, ...)
        whenever they are known, even for a statement the policy refuses; it raises to stop."""
        if not isinstance(sql, str) or not isinstance(params_count, int) or not isinstance(subject, Subject):
            raise QueryRefused("expected SQL text, a Subject and a parameter count", code="bad_request")
        signature = self.policies.signature(subject)
        key = (sql, self.dialect_name, signature, self.policies.version, params_count)
        template = self._cache.get(key)
        if template is None:
            template = self._template(sql, signature, params_count)
            self._cache.put(key, template)
        return template.render(subject, permit)

    def _template(self, sql: str, signature: Signature, params_count: int) -> Template | Refusal:
        found = Findings()
        try:
            expression, inputs = self.prepare(sql, signature, params_count)
            for rule in RULES:
                expression = rule.run(expression, inputs, found)
            return self._finish(expression, inputs, found)
        except (QueryRefused, WriteRefused) as error:
            operations = found.get(TableOperations)  # what the rules learnt before the refusal
            return Refusal.of(error, operations.pairs if operations is not None else ())
        except RecursionError:
            return Refusal.of(QueryRefused("the statement is nested too deeply", code="too_complex"))
        except Exception:  # fail closed: any surprise in parsing or rewriting is a refusal
            log.exception("rls: unexpected error while rewriting a statement")
            return Refusal.of(QueryRefused("rowgate could not rewrite this statement", code="rewrite_failed"))

    def prepare(self, sql: str, signature: Signature, params_count: int) -> tuple[exp.Expr, Inputs]:
        """The parsed statement, and what the rules are given to rewrite it (to run rules one by
        one, as the rules' fixture tests do); raises ``QueryRefused``."""
        if not isinstance(sql, str) or not isinstance(params_count, int) or params_count < 0:
            raise QueryRefused("expected SQL text and a parameter count of 0 or more", code="bad_request")
        if len(sql) > MAX_SQL_LENGTH:
            raise QueryRefused(f"statements are limited to {MAX_SQL_LENGTH} characters", code="too_complex")
        if self._nonce in sql:
            raise QueryRefused("the statement contains a reserved marker", code="reserved_name")
        expression, strings = self._parse(sql)
        bind = Binder(self._parametric, params_count, self._nonce)
        inputs = Inputs(
            self.policies,
            self.schema,
            self.dialect,
            self.dialect_name,
            signature,
            params_count,
            bind,
            sql,
            strings,
        )
        return expression, inputs

    def _finish(self, expression: exp.Expr, inputs: Inputs, found: Findings) -> Template:
        """The verified statement printed, as a template with holes for the subject's values."""
        text = print_verified(expression, self.dialect, self._reparse, inputs.sql)
        parts: tuple[str, ...]
        bind = inputs.bind
        if self._parametric:
            parts, slots = (text,), tuple(bind.slots)
        else:
            parts, slots = split_sentinels(text, self._nonce, self.dialect, bind.slots)
        return Template(
            parts,
            slots,
            found.statement.kind,
            explained(found),
            found.insert_guard.checks,
            None if self._parametric else self.dialect,
            found.new_row_checks.discard_rows,
            found.table_operations.pairs,
        )

    def _reparse(self, text: str) -> list[exp.Expr | None]:
        """Parse rowgate's own output (any failure is the caller's to judge)."""
        tools = self._tools()
        return tools.parser.parse(tools.tokenizer.tokenize(text), text)

    def _parse(self, sql: str) -> tuple[exp.Expr, frozenset[int]]:
        """The statement's tree, and where its string tokens start."""
        try:
            tools = self._tools()
            tokens = tools.tokenizer.tokenize(sql)
            strings = _scan(tokens)
            statements = [s for s in tools.parser.parse(tokens, sql) if s is not None]
        except ParseError as error:
            first = error.errors[0] if error.errors else {}
            where = f" at line {first.get('line')}, column {first.get('col')}" if first.get("line") else ""
            description = str(first.get("description") or "invalid syntax").split(" but got ")[0]
            raise QueryRefused(
                f"the statement does not parse: {description}{where}", code="parse_error"
            ) from None
        except RecursionError:
            raise
        except (SqlglotError, TypeError, ValueError, IndexError, KeyError, AttributeError):
            # sqlglot's parser sometimes fails with a plain Python error on odd input
            raise QueryRefused("the statement does not parse", code="parse_error") from None
        if not statements:
            raise QueryRefused("the statement is empty", code="parse_error")
        if len(statements) > 1:
            raise QueryRefused(
                "several statements are not allowed: send one at a time", code="statement_not_allowed"
            )
        return statements[0], strings


@dataclass(frozen=True, slots=True)
class _Tools:
    tokenizer: Tokenizer
    parser: Parser


def _scan(tokens: list[Token]) -> frozenset[int]:
    """Refuse statements with too many tokens or too deeply nested brackets; return where the
    string tokens start."""
    if len(tokens) > MAX_TOKENS:
        raise QueryRefused(f"statements are limited to {MAX_TOKENS} tokens", code="too_complex")
    depth = 0
    strings = []
    for token in tokens:
        if token.token_type in _STRINGS:
            strings.append(token.start)
        elif token.token_type in _OPENING:
            depth += 1
            if depth > MAX_NESTING:
                raise QueryRefused(f"brackets may nest at most {MAX_NESTING} deep", code="too_complex")
        elif token.token_type in _CLOSING:
            depth -= 1
    return frozenset(strings)
