"""``level: owner`` for upstream routes: the row named in the path must be the caller's own.

A rule such as::

    - path: /api/tasks/{id}
      methods: [DELETE]
      level: owner
      owner: {table: tasks, param: id}

lets the request through only when the row of ``tasks`` whose primary key is the ``{id}`` of the
path is visible to the caller (the table's select policy, through the rewriter) *and* its owner
column holds the caller's user id: the policy's ``self`` rule.  A row the caller cannot see is
a 404, a visible row of someone else a 403; either way the upstream never hears of the request.
"""

from __future__ import annotations

from collections.abc import Mapping

from rowgate.config.schema import OwnerCheck
from rowgate.errors import Forbidden, NotFound
from rowgate.proxy.data.rest import DataApi
from rowgate.proxy.data.restsql import build_owned
from rowgate.rls.subject import Subject


async def require_owner(api: DataApi, owner: OwnerCheck, params: Mapping[str, str], subject: Subject) -> None:
    """Raise unless the row ``params[owner.param]`` of ``owner.table`` is the caller's own."""
    policy = api.policy
    rules = policy.policies.find(None, owner.table)
    table = policy.tables.get(owner.table)
    if rules is None or table is None or rules.owner_column is None:
        raise Forbidden(
            f"This route checks ownership of {owner.table}, which has no policy with an owner column.",
            code="owner_check_unavailable",
        )
    if subject.user_id is None:
        raise Forbidden("Only the owner of this row may do this; sign in as a user.", code="owner_required")
    key = params.get(owner.param, "")
    statement = build_owned(table, key, rules.owner_column, subject.user_id)
    rewritten = policy.rewriter.rewrite(statement.sql, subject, len(statement.params))
    async with api.runner.single_read(subject, run_as=policy.runs_as(), ordinary=table.ordinary) as session:
        rows = (await session.run(rewritten, statement.params)).rows
    if not rows:
        raise NotFound(f"No row of {owner.table} has the id {key!r}.", code="row_not_found")
    if not rows[0]["owned"]:
        raise Forbidden(f"Only the owner of this {owner.table} row may do this.", code="owner_required")
