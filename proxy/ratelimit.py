"""Per-caller rate limits on proxied routes and the data API (``rate_limits:``).

Every request to the upstream app, ``/v1/data`` or ``/v1/sql`` takes one request from its
caller's budget: a secret API key's own (or the key's ``rateLimit``), a signed-in user's, or else
its client IP address's (anonymous callers, publishable keys, refused credentials).  A budget is a
token bucket in the ephemeral store (``EphemeralStore.throttle``): at most one round trip to
Redis per request (the requests of one event-loop turn share one pipeline), atomic and shared by
every instance.  A refusal says how long the bucket stays empty
(nothing refills it sooner: other instances only take from it), so the instance remembers that
and refuses the caller's next requests until then without asking Redis: an over-limit caller's
flood costs no round trip at all.  rowgate's own endpoints (auth, rbac, admin, health, metrics, well-known)
are not counted here; the auth endpoints have their own limits (``auth.rate_limits``).

Answers carry the RateLimit fields of the IETF httpapi working group, in the Structured Field
syntax (RFC 9651) of draft-ietf-httpapi-ratelimit-headers-11,
https://datatracker.ietf.org/doc/draft-ietf-httpapi-ratelimit-headers/11/ ::

    RateLimit-Policy: "user";q=3000;w=60      quota q requests per window w seconds
    RateLimit: "user";r=2999;t=1              r requests left at once; t seconds until one more

Beyond the budget: 429, problem ``rate_limited``, with ``Retry-After`` equal to ``t`` (the draft
asks that Retry-After never point before the end of the effective window).

When the store cannot be reached, requests go on without a limit (logged, and counted as
``rowgate_rate_limit_unchecked``): an outage of Redis must not take the app down with it.  The
auth endpoints' limits, which guard passwords, fail closed.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from aiohttp import web

from rowgate.auth.principal import Principal
from rowgate.auth.store import EphemeralStore, Throttle
from rowgate.config.limits import RateLimitSettings
from rowgate.config.schema import Settings
from rowgate.errors import ServiceUnavailable, TooManyRequests
from rowgate.proxy.appkeys import CLIENT_IP

log = logging.getLogger("rowgate.ratelimit")


@dataclass(frozen=True, slots=True)
class Budget:
    """Whose budget a request takes from, and its size."""

    #: The policy's name in the RateLimit fields: ``api-key``, ``user`` or ``ip``.
    policy: str
    #: The bucket in the store.
    key: str
    limit: int
    window: int
    #: The RateLimit-Policy field (``policy_field``), written once per budget.
    _policy_field: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_policy_field", f'"{self.policy}";q={self.limit};w={self.window}')

    def policy_field(self) -> str:
        return self._policy_field

    def limit_field(self, verdict: Throttle) -> str:
        return f'"{self.policy}";r={verdict.remaining};t={seconds(verdict.wait)}'


def seconds(wait: float) -> int:
    """Whole seconds, rounded up, at least one (what delay-seconds can say)."""
    return max(1, math.ceil(wait))


def budget_of(principal: Principal, client_ip: str, limits: RateLimitSettings) -> Budget:
    """The budget ``principal`` calling from ``client_ip`` spends."""
    if principal.api_key_id is not None and not principal.is_publishable_key:
        limit, window = principal.rate_limit or (limits.api_key.limit, limits.api_key.seconds)
        ceiling = limits.max_api_key  # lowered since the key was given its own: the ceiling holds
        if limit > ceiling.limit or limit * ceiling.seconds > ceiling.limit * window:
            limit, window = ceiling.limit, ceiling.seconds
        return Budget("api-key", f"quota:key:{principal.api_key_id}", limit, window)
    if principal.user_id is not None:
        return Budget("user", f"quota:user:{principal.user_id}", limits.user.limit, limits.user.seconds)
    return Budget("ip", f"quota:ip:{client_ip}", limits.ip.limit, limits.ip.seconds)


#: What a counted request spent: its budget and the store's verdict.
SPENT: web.RequestKey[tuple[Budget, Throttle]] = web.RequestKey("rate_limit")
#: Empty buckets one instance remembers at most (the least recently refused are forgotten).
MAX_EMPTY = 10_000
#: Budgets of principals kept at most (forgotten all at once past that).
MAX_BUDGETS = 10_000


class CallerLimits:
    """The pipeline's rate limit stage (``spend``) and the response hook, with counts for ``/metrics``."""

    def __init__(self, settings: Settings) -> None:
        self.limits = settings.rate_limits
        mounts = settings.mounts
        own = (mounts.auth, mounts.rbac, mounts.admin, "/.well-known", "/healthz", "/readyz", "/metrics")
        #: rowgate's own paths, as themselves and as the prefixes of what lies below them.
        self._own = frozenset(own)
        self._below_own = tuple(prefix + "/" for prefix in own)
        #: Requests refused with 429, and requests let through unchecked (the store was away).
        self.refused = 0
        self.unchecked = 0
        #: Buckets known to be empty: store key → monotonic time until which it stays empty.
        self._empty: OrderedDict[str, float] = OrderedDict()
        #: The budgets of API keys' and users' principals (not of an address), by the principal
        #: object (kept alive here, so that its id names no other): the authenticators hand the
        #: same object to the requests of a cached credential.
        self._budgets: dict[int, tuple[Principal, Budget]] = {}

    async def spend(self, request: web.Request, principal: Principal, store: EphemeralStore) -> None:
        """Take one request from the budget of ``principal`` (the caller, authenticated) in
        ``store``; 429 when it is empty."""
        path = request.path
        if path in self._own or path.startswith(self._below_own):  # rowgate's own: not counted
            return
        budget = self._budget(principal, request[CLIENT_IP])
        verdict = self._still_empty(budget.key) if self._empty else None
        if verdict is None:
            try:
                verdict = await store.throttle(budget.key, budget.limit, budget.window)
            except ServiceUnavailable:
                self.unchecked += 1
                log.warning("rate limit not checked: the shared store is unreachable")
                return
        request[SPENT] = (budget, verdict)
        if not verdict.allowed:
            self._remember_empty(budget.key, verdict.wait)
            self.refused += 1
            raise TooManyRequests(
                f"Too many requests for this {_WHO[budget.policy]} ({budget.limit} per {budget.window}s); "
                f"try again in {seconds(verdict.wait)}s.",
                retry_after=seconds(verdict.wait),
            )

    def _budget(self, principal: Principal, client_ip: str) -> Budget:
        known = self._budgets.get(id(principal))
        if known is not None and known[0] is principal:
            return known[1]
        budget = budget_of(principal, client_ip, self.limits)
        if budget.policy != "ip":  # an address's budget is the caller's, not the principal's
            if len(self._budgets) >= MAX_BUDGETS:
                self._budgets.clear()
            self._budgets[id(principal)] = (principal, budget)
        return budget

    def _still_empty(self, key: str) -> Throttle | None:
        """A refusal without asking the store, while a bucket that refused is known to be empty."""
        until = self._empty.get(key)
        if until is None:
            return None
        wait = until - time.monotonic()
        if wait <= 0:
            del self._empty[key]
            return None
        return Throttle(False, 0, wait)

    def _remember_empty(self, key: str, wait: float) -> None:
        self._empty[key] = time.monotonic() + wait
        self._empty.move_to_end(key)
        while len(self._empty) > MAX_EMPTY:
            self._empty.popitem(last=False)

    @staticmethod
    async def add_fields(request: web.BaseRequest, response: web.StreamResponse) -> None:
        """``on_response_prepare``: the RateLimit fields on every answer that spent a budget,
        streamed upstream answers and problems included."""
        spent = request.get(SPENT)
        if spent is not None:
            budget, verdict = spent
            response.headers["RateLimit-Policy"] = budget.policy_field()
            response.headers["RateLimit"] = budget.limit_field(verdict)


_WHO = {"api-key": "API key", "user": "user", "ip": "IP address"}

CALLER_LIMITS = web.AppKey("caller_limits", CallerLimits)


def add_rate_limits(app: web.Application, settings: Settings) -> None:
    """Count proxied and data API requests against their callers' budgets (unless turned off):
    the pipeline spends, right after authentication (the budget depends on the caller)."""
    if not settings.rate_limits.enabled:
        return
    limits = CallerLimits(settings)
    app[CALLER_LIMITS] = limits
    app.on_response_prepare.append(limits.add_fields)
