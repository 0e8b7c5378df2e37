"""What a route rule asks of the data layer before a request is forwarded.

``level: owner`` checks that the row named in the path is the caller's own
(``proxy.data.owner``), and ``sql`` rewrites the statement the request carries for the caller
(``proxy.data.upstream_sql``; not for WebSockets, which carry no statement to rewrite).  Either
refusal is answered by rowgate: the upstream never hears of the request.
"""

from __future__ import annotations

from aiohttp import web

from rowgate.auth.principal import Principal
from rowgate.config.schema import RouteRule
from rowgate.proxy.data.access import data_caller
from rowgate.proxy.data.owner import require_owner
from rowgate.proxy.data.upstream_sql import Replacement, rewrite_request
from rowgate.proxy.routes import RouteMatch
from rowgate.proxy.services import Services

UNCHANGED = Replacement()


def asks_data_layer(rule: RouteRule) -> bool:
    """Whether ``rule`` has the data layer check its owner or rewrite its statement (most do not:
    their requests go on ``UNCHANGED`` without a call here)."""
    return rule.owner is not None or rule.sql is not None


async def apply_data_rules(
    request: web.Request, match: RouteMatch, principal: Principal, services: Services, *, websocket: bool
) -> Replacement:
    """Check the rule's owner and rewrite its statement; ``UNCHANGED`` when it asks for neither."""
    rule = match.rule
    if rule is None or not asks_data_layer(rule):
        return UNCHANGED
    policy = services.data.policy
    caller = await data_caller(principal, services.tenancy.catalog, policy.policies, services.settings)
    if rule.owner is not None:
        await require_owner(services.data, rule.owner, match.params, caller.subject)
    if rule.sql is None or websocket:
        return UNCHANGED
    return await rewrite_request(request, rule.sql, caller, policy, services.settings.data.max_body_size)
