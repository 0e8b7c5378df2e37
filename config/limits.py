"""Settings of the per-caller rate limits (``rate_limits:``) on proxied routes and the data API.

Each caller has one budget, shared by every instance (through Redis): a secret API key its own,
a signed-in user theirs, and everyone else (anonymous callers, publishable keys, refused
credentials) the budget of their IP address.  A budget is a token bucket of ``limit`` requests
refilled evenly over ``window``: a burst of up to ``limit`` at once, then ``limit / window`` per
second.  An API key may carry its own limit (``rateLimit`` when it is created or rotated), never
more generous than ``max_api_key``.  rowgate's own auth endpoints keep their limits
(``auth.rate_limits``).
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, field_validator

from rowgate.config.model import Model
from rowgate.config.units import Duration

#: Most requests one budget may hold, and the shortest and longest windows (the RateLimit
#: header speaks whole seconds; a day keeps the shared state small).
MAX_LIMIT = 1_000_000
MIN_WINDOW = timedelta(seconds=1)
MAX_WINDOW = timedelta(days=1)


def check_window(value: timedelta) -> timedelta:
    """``value`` if it is a whole number of seconds between ``MIN_WINDOW`` and ``MAX_WINDOW``."""
    seconds = value.total_seconds()
    if not MIN_WINDOW <= value <= MAX_WINDOW or seconds != int(seconds):
        raise ValueError(f"expected whole seconds from 1s to 1d, like 1m or 3600, got {seconds:g}s")
    return value


class CallerLimit(Model):
    """``limit`` requests per ``window``, refilled evenly."""

    limit: int = Field(ge=1, le=MAX_LIMIT)
    window: Duration

    @field_validator("window")
    @classmethod
    def _window(cls, value: timedelta) -> timedelta:
        return check_window(value)

    @property
    def seconds(self) -> int:
        return int(self.window.total_seconds())

    def exceeds(self, ceiling: CallerLimit) -> bool:
        """Whether this limit allows a bigger burst or a faster rate than ``ceiling``."""
        return self.limit > ceiling.limit or self.limit * ceiling.seconds > ceiling.limit * self.seconds


def _per_minute(limit: int) -> CallerLimit:
    return CallerLimit(limit=limit, window=timedelta(minutes=1))


class RateLimitSettings(Model):
    #: Off: no limit and no RateLimit headers (the auth endpoints keep ``auth.rate_limits``).
    enabled: bool = True
    #: Each secret API key (unless the key carries its own ``rateLimit``).
    api_key: CallerLimit = _per_minute(6000)
    #: Each signed-in user (rowgate's tokens and external issuers' alike).
    user: CallerLimit = _per_minute(3000)
    #: Each client IP address without an identity: anonymous, publishable keys, refused credentials.
    ip: CallerLimit = _per_minute(600)
    #: The most generous ``rateLimit`` an API key may be given.
    max_api_key: CallerLimit = _per_minute(60_000)


def rate_limit_problems(settings: RateLimitSettings) -> list[str]:
    """Checks across the keys of ``rate_limits``; each as ``key.path: message``."""
    if settings.api_key.exceeds(settings.max_api_key):
        return ["rate_limits.api_key: must not be more generous than rate_limits.max_api_key"]
    return []
