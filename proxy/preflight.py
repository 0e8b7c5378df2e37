"""What ``serve`` checks before it starts anything, and ``check-config`` checks alone.

One path for both, so that they can never disagree: the settings loaded (``config.loader``),
then the parts that live outside the settings file but need no server: the master key from the
environment, the SMTP password, each sign-in provider's client secret, and the policy file
(valid, naming known roles, outside rowgate's own schema, in a dialect rowgate can confine).
Every problem is gathered into one ``ConfigError``.  What needs the database (tables and
columns the policies name) is checked at start-up and by ``rowgate policy check``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from rowgate.auth.crypto import environment_master_key
from rowgate.auth.mail.backends import SmtpBackend, smtp_password
from rowgate.auth.social.providers import client_secret
from rowgate.config.schema import Settings
from rowgate.config.social import ProviderSettings
from rowgate.errors import ConfigError
from rowgate.proxy.data.policy import own_schema_problems
from rowgate.rls.policy import PolicySet, load_policies
from rowgate.rls.rewrite import Rewriter

T = TypeVar("T")


def preflight(settings: Settings) -> PolicySet | None:
    """Check everything ``serve`` would refuse before starting; the policies (``None``:
    ``policies: null``).  Raises one ``ConfigError`` naming every problem."""
    problems: list[str] = []
    _gather(problems, lambda: environment_master_key(settings))
    if settings.mail.backend == "smtp":
        _gather(problems, lambda: SmtpBackend(settings.mail.smtp, smtp_password()))
    for name, provider in settings.auth.providers.items():
        _gather(problems, _secret_check(name, provider))
    policies = _gather(problems, lambda: _policies(settings))
    if problems:
        raise ConfigError(problems)
    return policies


def _policies(settings: Settings) -> PolicySet | None:
    if settings.policies is None:
        return None
    policies = load_policies(settings.policies, roles=settings.rbac.known_roles)
    problems = own_schema_problems(policies)
    if problems:
        raise ConfigError(problems)
    Rewriter(policies, "postgres")  # the data API's dialect: refuses what it cannot confine
    return policies


def _secret_check(name: str, provider: ProviderSettings) -> Callable[[], str]:
    return lambda: client_secret(name, provider)


def _gather(problems: list[str], check: Callable[[], T]) -> T | None:
    try:
        return check()
    except ConfigError as error:
        problems.extend(error.problems)
        return None
