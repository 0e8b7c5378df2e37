"""Check every function call against the allowlist (``rls.functions``), and refuse the other
ways SQL reaches beyond the rows: schema-qualified function calls (which bypass the name check)
and PostgreSQL's parenthesis-free SQL-value functions that sqlglot reads as columns (``user``,
``current_role``).  Types named in casts are ``check_types``'s.
"""

from __future__ import annotations

from sqlglot import exp

from rowgate.rls.context import Inputs, rule
from rowgate.rls.errors import QueryRefused
from rowgate.rls.findings import Census, Findings
from rowgate.rls.functions import KEYWORD_FUNCTIONS


@rule(reads=(Census,))
def check_functions(expression: exp.Expr, inputs: Inputs, found: Findings) -> exp.Expr:
    """Refuse calls to functions that are not allowed."""
    census = found.census
    policy = inputs.policies.functions
    for node in census.functions:
        refusal = policy.refusal(node)
        if refusal:
            raise QueryRefused(refusal, code="function_not_allowed")
    for other in census.suspicious:
        if isinstance(other, exp.Dot) and isinstance(other.expression, exp.Func):
            raise QueryRefused(
                "schema-qualified function calls are not allowed: call functions by their unqualified name",
                code="function_not_allowed",
            )
    for column in census.columns:
        identifier = column.this
        if (
            isinstance(identifier, exp.Identifier)
            and not identifier.quoted
            and not column.args.get("table")
            and identifier.this.lower() in KEYWORD_FUNCTIONS
        ):
            raise QueryRefused(
                f"function {identifier.this.lower()} is not allowed", code="function_not_allowed"
            )
    return expression
