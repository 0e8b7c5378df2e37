"""The REST data API as a service: requests in, rows out, every statement through the rewriter.

Each operation takes the policy snapshot in force when it starts (``PolicyHolder.current``),
builds SQL over the plain table (``proxy.data.restsql``), has the rewriter confine it to the caller
(``Rewriter.rewrite``: the same path raw SQL takes), checks the caller's table permissions
against what the statement does (``proxy.data.access``), and runs it in one transaction
(``proxy.data.runner``).  Rows the caller may not see do not exist for it: a read or write of one is
a 404, whatever the reason; a write the policy forbids on a row the caller *can* see is a 403
with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from rowgate.config.data import DataSettings
from rowgate.errors import Forbidden, NotFound, PayloadTooLarge, Unauthorized, ValidationFailed
from rowgate.proxy.data.access import UNCHECKED, Caller
from rowgate.proxy.data.catalog import TableInfo
from rowgate.proxy.data.jsonrows import encode
from rowgate.proxy.data.policy import DataPolicy
from rowgate.proxy.data.reload import PolicyHolder
from rowgate.proxy.data.restquery import parse_read, parse_select
from rowgate.proxy.data.restsql import (
    Statement,
    build_count,
    build_delete,
    build_exists,
    build_get,
    build_insert,
    build_read,
    build_update,
)
from rowgate.proxy.data.runner import DataRunner, Session
from rowgate.rls.errors import WriteRefused
from rowgate.rls.grants import grant
from rowgate.rls.policy import TablePolicy, role_of
from rowgate.rls.subject import Subject
from rowgate.rls.template import Rewritten

Row = dict[str, Any]


def rows_of(records: Sequence[asyncpg.Record]) -> list[Row]:
    """Records as plain dictionaries (column name → value); the names are read once."""
    if not records:
        return []
    names = tuple(records[0].keys())
    return [dict(zip(names, record, strict=True)) for record in records]


@dataclass
class DataApi:
    """The REST operations, the SQL runner and the policy in force."""

    runner: DataRunner
    holder: PolicyHolder
    settings: DataSettings

    @property
    def policy(self) -> DataPolicy:
        return self.holder.current

    def permit(self, caller: Caller, table_name: str, action: str) -> None:
        """What a REST request needs before its body is even read: 404 unless ``table_name`` is
        served; 403 ``permission_denied`` unless the caller may ``action`` it, or
        ``operation_not_allowed`` for a write the policy gives none of its groups; 401 instead of
        either for a caller that sent no credential at all."""
        policy = self.policy
        rules = policy.policies.tables[policy.table(table_name).qualified]
        try:
            caller.access.require(f"{policy.policies.resource(rules)}:{action}")
            operation = _WRITES.get(action)
            if operation and grant(rules, operation, policy.policies.signature(caller.subject)).denied:
                raise WriteRefused(_closed(rules, operation), code="operation_not_allowed")
        except (Forbidden, WriteRefused) as refused:
            if caller.anonymous:
                sign_in = Unauthorized(f"Sign in first. As a guest: {refused.detail}")
                sign_in.extra.update(refused.extra)
                raise sign_in from None
            raise

    async def read(self, caller: Caller, table_name: str, pairs: Iterable[tuple[str, str]]) -> bytes:
        """``GET /{table}``: ``{"data": [rows], "count": total}`` (count with ``count=exact``) as the
        JSON the data API sends (``proxy.data.jsonrows.encode``), the rows written by the database
        itself where it can write them exactly."""
        policy = self.policy
        table = policy.table(table_name)
        query = parse_read(
            pairs, default_limit=self.settings.default_limit, max_limit=self.settings.max_limit
        )
        statement = build_read(table, query)
        counting = build_count(table, query) if query.count else None
        subject = caller.subject
        run_as = policy.runs_as()
        if counting is None:
            async with self.runner.single_read(subject, run_as=run_as, ordinary=table.ordinary) as session:
                written = await session.fetch_json(_rewritten(policy, caller, statement), statement.params)
                if written is not None:
                    return b'{"data":' + written.encode() + b"}"
                return encode({"data": rows_of(await _run(session, policy, caller, statement))})
        async with self.runner.transaction(subject, run_as=run_as, readonly=True, snapshot=True) as session:
            rows = await _run(session, policy, caller, statement)
            total = (await _run(session, policy, caller, counting))[0]["count"]
        return encode({"data": rows_of(rows), "count": total})

    async def get(self, caller: Caller, table_name: str, key: str, select: str | None) -> Row:
        """``GET /{table}/{id}``: the row, or 404 when it does not exist *for this caller*."""
        policy = self.policy
        table = policy.table(table_name)
        statement = build_get(table, key, parse_select(select) if select is not None else None)
        run_as = policy.runs_as()
        async with self.runner.single_read(caller.subject, run_as=run_as, ordinary=table.ordinary) as session:
            rows = await _run(session, policy, caller, statement)
        if not rows:
            raise _not_found(table, key)
        return dict(rows[0])

    async def insert(self, caller: Caller, table_name: str, body: Any) -> list[Row]:
        """``POST /{table}``: insert one object or an array of them; the rows as written."""
        policy = self.policy
        table = policy.table(table_name)
        objects = body if isinstance(body, list) else [body]
        if len(objects) > self.settings.max_rows:
            raise PayloadTooLarge(
                f"At most {self.settings.max_rows} rows per request (data.max_rows).", code="too_many_rows"
            )
        if not all(isinstance(o, dict) for o in objects):
            raise ValidationFailed(
                "Send a JSON object, or an array of objects.",
                errors=[{"field": "", "message": "expected objects"}],
            )
        statement = build_insert(table, objects)
        async with self.runner.transaction(
            caller.subject, run_as=policy.runs_as(), readonly=False
        ) as session:
            return rows_of(await _run(session, policy, caller, statement))

    async def update(self, caller: Caller, table_name: str, key: str, body: Any) -> Row:
        """``PATCH /{table}/{id}``: change the columns given; the row as written."""
        if not isinstance(body, dict):
            raise ValidationFailed(
                "Send a JSON object of the columns to change.",
                errors=[{"field": "", "message": "expected an object"}],
            )
        policy = self.policy
        table = policy.table(table_name)
        return await self._write_one(caller, policy, table, key, "update", build_update(table, key, body))

    async def delete(self, caller: Caller, table_name: str, key: str) -> Row:
        """``DELETE /{table}/{id}``: the row as it was."""
        policy = self.policy
        table = policy.table(table_name)
        return await self._write_one(caller, policy, table, key, "delete", build_delete(table, key))

    async def _write_one(
        self,
        caller: Caller,
        policy: DataPolicy,
        table: TableInfo,
        key: str,
        operation: str,
        statement: Statement,
    ) -> Row:
        subject = caller.subject
        async with self.runner.transaction(subject, run_as=policy.runs_as(), readonly=False) as session:
            rows = await _run(session, policy, caller, statement)
            if rows:
                return dict(rows[0])
            # rowgate's own question (is the row there at all?), answered under the row policy
            seen = await _run(session, policy, Caller(subject, UNCHECKED), build_exists(table, key))
        if not seen:
            raise _not_found(table, key)
        raise WriteRefused(_refusal(policy, table, operation, subject), code="row_not_writable")


async def _run(
    session: Session, policy: DataPolicy, caller: Caller, statement: Statement
) -> list[asyncpg.Record]:
    return await session.fetch(_rewritten(policy, caller, statement), statement.params)


def _rewritten(policy: DataPolicy, caller: Caller, statement: Statement) -> Rewritten:
    return policy.rewriter.rewrite(
        statement.sql, caller.subject, len(statement.params), permit=caller.access.permit
    )


def _not_found(table: TableInfo, key: str) -> NotFound:
    return NotFound(f"No row of {table.name} has the id {key!r}.", code="row_not_found")


def _refusal(policy: DataPolicy, table: TableInfo, operation: str, subject: Subject) -> str:
    rules = policy.policies.tables[table.qualified]
    groups = grant(rules, operation, policy.policies.signature(subject)).groups
    described = ", ".join(_group_words(g) for g in sorted(rules.groups(operation))) or "nobody"
    mine = " (you qualify only through rules this row does not meet)" if groups else ""
    return f"You may not {operation} this row of {table.name}: {operation} is allowed to {described}{mine}."


def _closed(rules: TablePolicy, operation: str) -> str:
    described = ", ".join(_group_words(g) for g in sorted(rules.groups(operation))) or "nobody"
    return f"You may not {operation} {_PREPOSITIONS[operation]}{rules.name}: it is allowed to {described}."


_WRITES: Mapping[str, str] = {"create": "insert", "update": "update", "delete": "delete"}
_PREPOSITIONS: Mapping[str, str] = {"insert": "into ", "update": "", "delete": "from "}


def _group_words(group: str) -> str:
    role = role_of(group)
    return f"members with the role {role}" if role is not None else _GROUP_WORDS.get(group, group)


_GROUP_WORDS: Mapping[str, str] = {
    "admin": "tenant admins",
    "user": "members of the tenant",
    "self": "the row's owner",
    "guest": "guests",
}
