"""The policy playground: how ``POST /v1/sql`` would rewrite a statement for a role, never run.

An organisation admin picks a role their organisation knows (a built-in role, one of its custom
roles, or ``guest``: a publishable key's caller) and optionally a member to act as (else the admin
themselves), and types a statement.  The answer is what ``explain`` answers on ``/v1/sql`` (the
same rewriter, the same caller as the data API would build for such a member), plus, per table
the statement touches, the policy's rules for every operation as the role gets them, and which
table permissions the role lacks.  The tenant is always the admin's own organisation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlglot

from rowgate.auth.principal import Principal
from rowgate.auth.rbac.catalog import RoleCatalog
from rowgate.auth.rbac.permissions import grants
from rowgate.config.schema import Settings
from rowgate.errors import BadRequest, RowgateError
from rowgate.proxy.data.access import Caller, data_caller
from rowgate.proxy.data.rest import DataApi
from rowgate.proxy.data.sql import explain_sql
from rowgate.rls.grants import grant
from rowgate.rls.policy import ACTIONS, OPERATIONS, PolicySet, TablePolicy

#: The longest statement the playground reads (characters; the dashboard reads forms of 8 KiB).
MAX_SQL = 4_000
#: The role of a caller without one: anonymous, or a publishable API key of the organisation.
GUEST = "guest"


@dataclass(frozen=True, slots=True)
class OperationRule:
    """What one operation on one table gives the role."""

    operation: str
    permission: str
    held: bool
    groups: tuple[str, ...]
    rows: str
    hidden: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TableRules:
    table: str
    tenant_column: str | None
    owner_column: str | None
    shared: bool
    filters: dict[str, str]
    operations: tuple[OperationRule, ...]


@dataclass(frozen=True, slots=True)
class Trial:
    """What the playground answers: the explanation, or the refusal's code and message."""

    role: str
    groups: tuple[str, ...]
    explained: dict[str, Any] | None = None
    refusal: tuple[str, str] | None = None
    lacking: tuple[str, ...] = ()
    tables: tuple[TableRules, ...] = field(default=())
    #: The rewritten statement laid out on several lines (as ``rowgate policy explain`` prints it).
    pretty: str = ""


async def roles(catalog: RoleCatalog, org_id: str) -> list[str]:
    """The roles to offer: built-in ones, the organisation's custom ones, and ``guest``."""
    return [*catalog.builtin, *sorted(await catalog.custom(org_id)), GUEST]


def statement(text: str | None) -> str:
    """The ``sql`` field: present and at most ``MAX_SQL`` characters; 400 otherwise."""
    if text is None or not text.strip():
        raise BadRequest("sql: type a statement to rewrite.", code="empty_statement")
    if len(text) > MAX_SQL:
        raise BadRequest(f"sql: at most {MAX_SQL} characters, got {len(text)}.", code="statement_too_long")
    return text


async def caller_as(
    catalog: RoleCatalog, policies: PolicySet, settings: Settings, org_id: str, role: str, user_id: str
) -> Caller:
    """The data API's caller for a member of ``org_id`` holding ``role`` (or a guest of it)."""
    if role == GUEST:
        principal = Principal(method="guest", org_id=org_id)
    else:
        principal = Principal(
            method="password",
            user_id=user_id,
            org_id=org_id,
            role=role,
            permissions=await catalog.permissions(org_id, role),
            groups=catalog.groups(role),
        )
    return await data_caller(principal, catalog, policies, settings)


async def try_statement(
    api: DataApi,
    catalog: RoleCatalog,
    settings: Settings,
    org_id: str,
    role: str,
    user_id: str,
    sql: str,
) -> Trial:
    """Rewrite ``sql`` as ``role`` would get it in ``org_id`` (acting as ``user_id``); never runs it."""
    policy = api.policy
    caller = await caller_as(catalog, policy.policies, settings, org_id, role, user_id)
    groups = tuple(sorted(caller.subject.groups))
    try:
        explained = explain_sql(api, caller, sql, [])
    except RowgateError as refused:
        return Trial(role, groups, refusal=(refused.code, refused.detail))
    granted = caller.access.granted
    lacking = tuple(p for p in explained["permissions"] if granted is not None and not grants(granted, p))
    touched = dict.fromkeys(table["table"] for table in explained["tables"])
    found = [policy.policies.tables.get(name) for name in touched]  # qualified names, each with a policy
    tables = tuple(rules_of(policy.policies, table, caller) for table in found if table is not None)
    dialect = policy.rewriter.dialect
    pretty = sqlglot.parse_one(explained["sql"], read=dialect).sql(dialect, pretty=True)
    return Trial(role, groups, explained, None, lacking, tables, pretty)


def rules_of(policies: PolicySet, table: TablePolicy, caller: Caller) -> TableRules:
    """Every operation of ``table`` as ``caller`` gets it: permission, groups, rows, hidden columns."""
    signature = policies.signature(caller.subject)
    granted = caller.access.granted
    operations = []
    for operation in OPERATIONS:
        permission = f"{policies.resource(table)}:{ACTIONS[operation]}"
        given = grant(table, operation, signature)
        operations.append(
            OperationRule(
                operation,
                permission,
                granted is None or grants(granted, permission),
                given.groups,
                given.describe(),
                tuple(sorted(given.hidden)),
            )
        )
    return TableRules(
        table.qualified,
        table.tenant_column,
        table.owner_column,
        table.shared,
        dict(table.filter_sql),
        tuple(operations),
    )
