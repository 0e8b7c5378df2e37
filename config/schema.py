"""The typed settings model: frozen, unknown keys forbidden, defaults that run on one machine.

Each section is a small model; ``Settings`` ties them together.  Values that
depend on others (the public URL, the token issuer, paths relative to the
config file) are filled in by ``Settings.resolved``; checks that span several
fields live in ``cross_field_problems`` as a pure function.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from rowgate.config.alerts import AlertSettings, alert_problems
from rowgate.config.audit import AuditSettings
from rowgate.config.dashboard import DashboardSettings, dashboard_problems
from rowgate.config.data import DataSettings
from rowgate.config.identity import AuthSettings, MailSettings, identity_problems
from rowgate.config.limits import RateLimitSettings, rate_limit_problems
from rowgate.config.model import Model
from rowgate.config.tenancy import (
    ApiKeySettings,
    ExternalIssuer,
    InvitationSettings,
    RbacSettings,
    check_required,
    tenancy_problems,
)
from rowgate.config.units import Duration, Size

Level = Literal["public", "authenticated", "admin", "owner", "deny"]
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


#: Headers through which proxies tell the app about the client (``server.proxy_headers``).
PROXY_HEADERS = (
    "Forwarded",
    "X-Real-IP",
    "X-Client-IP",
    "True-Client-IP",
    "CF-Connecting-IP",
    "Fastly-Client-IP",
    "X-Cluster-Client-IP",
    "X-Forwarded-Port",
    "X-Forwarded-Prefix",
    "X-Forwarded-Server",
    "X-Forwarded-Scheme",
    "X-Forwarded-Ssl",
)
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")


class ServerSettings(Model):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    public_url: str | None = None
    max_body_size: Size = 10 * 1024 * 1024
    max_header_size: Size = 16 * 1024
    shutdown_timeout: Duration = timedelta(seconds=15)
    #: Longest a client may take to send a request's line and headers (408 beyond).
    header_timeout: Duration = timedelta(seconds=10)
    #: Connections one client address may hold that are slow to send their headers (429 beyond).
    max_slow_connections_per_ip: int = Field(10, ge=1, le=100_000)
    trusted_proxies: tuple[str, ...] = ()
    #: Headers only a proxy may set: removed from clients' requests, passed on from trusted proxies.
    proxy_headers: tuple[str, ...] = PROXY_HEADERS
    #: Serve Prometheus metrics at /metrics (aggregates only; scrape it from inside your network).
    metrics: bool = True
    #: Worker processes sharing the port (``None``: one per CPU available to the process).
    workers: int | None = Field(None, ge=1, le=256)

    @field_validator("proxy_headers")
    @classmethod
    def _header_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [name for name in value if not _HEADER_NAME.fullmatch(name)]
        if bad:
            raise ValueError(f"expected header names like X-Real-IP, got {bad}")
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        # From the environment a list arrives as one string: "10.0.0.0/8, 172.16.0.0/12".
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(
                    f"expected IP addresses or CIDR ranges like 10.0.0.0/8, got {cidr!r}"
                ) from None
        return value

    @field_validator("public_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"expected an http(s) URL like https://auth.example.com, got {value!r}")
        return value.rstrip("/")


class DatabaseSettings(Model):
    url: str | None = None
    pool_min_size: int = Field(1, ge=0, le=1000)
    pool_max_size: int = Field(10, ge=1, le=1000)
    connect_timeout: Duration = timedelta(seconds=10)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not re.match(r"^postgres(ql)?://", value):
            raise ValueError(f"expected a URL like postgresql://user@host:5432/db, got {_redact(value)!r}")
        return value


class RedisSettings(Model):
    url: str | None = None
    key_prefix: str = "rowgate:"
    #: How often each instance checks that Redis kept its state (its generation marker); a
    #: restarted or flushed Redis makes every cache be re-read from the database.
    state_check_interval: Duration = timedelta(seconds=2)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not re.match(r"^(redis|rediss|unix)://", value):
            raise ValueError(f"expected a URL like redis://127.0.0.1:6379/0, got {_redact(value)!r}")
        return value


class UpstreamSettings(Model):
    url: str | None = "http://127.0.0.1:8081"
    connect_timeout: Duration = timedelta(seconds=5)
    read_timeout: Duration = timedelta(seconds=60)
    max_connections: int = Field(100, ge=1, le=10000)
    max_body_size: Size = 1024 * 1024 * 1024
    #: The largest WebSocket message relayed either way; a bigger one closes the socket with 1009.
    websocket_max_message: Annotated[Size, Field(ge=1)] = 4 * 1024 * 1024
    keepalive_timeout: Duration = timedelta(seconds=4)
    #: Pass the client's Bearer token on to the app (off: the app relies on X-Rowgate-* alone and
    #: never holds the token).
    forward_bearer: bool = False

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"expected an http(s) URL like http://127.0.0.1:3000, got {value!r}")
        return value.rstrip("/")


class KeyRotation(Model):
    """``tokens.rotation``: when signing keys rotate on their own (see ``auth.tokens.lifecycle``)."""

    #: Rotate every so often (e.g. ``30d``); unset (the default): only ``rowgate keys rotate`` does.
    every: Duration | None = None
    #: How often each instance steps the lifecycle (publishes, promotes, retires when due).
    check_interval: Duration = timedelta(minutes=1)


class TokenSettings(Model):
    algorithm: Literal["EdDSA", "ES256", "RS256", "HS256"] = "EdDSA"
    issuer: str | None = None
    audience: str = "rowgate"
    access_ttl: Duration = timedelta(minutes=15)
    refresh_ttl: Duration = timedelta(days=30)
    id_ttl: Duration = timedelta(hours=1)
    leeway: Duration = timedelta(seconds=30)
    verify_cache_size: int = Field(10_000, ge=0, le=10_000_000)
    #: How long a retired signing key keeps verifying (and stays in the JWKS) after a rotation or an
    #: algorithm change.  Unset: the longest token lifetime (access or ID) plus the leeway, so no
    #: token signed just before the rotation is cut short.
    retired_key_ttl: Duration | None = None
    #: The ``Cache-Control: max-age`` served with the JWKS: how long relying parties may cache it.
    jwks_max_age: Duration = timedelta(minutes=5)
    rotation: KeyRotation = KeyRotation()

    @model_validator(mode="after")
    def _rotation_outlasts_publication(self) -> TokenSettings:
        every = self.rotation.every
        if every is not None and every <= self.publish_ahead:
            raise ValueError(
                f"tokens.rotation.every ({every}) must be longer than jwks_max_age + leeway "
                f"({self.publish_ahead}): a next key is published that long before it signs"
            )
        return self

    @property
    def publish_ahead(self) -> timedelta:
        """How long a next key is in the JWKS before it signs: every cached JWKS has it by then."""
        return self.jwks_max_age + self.leeway

    @property
    def retired_key_lifetime(self) -> timedelta:
        """``retired_key_ttl``, or the default that outlives every token signed before retirement."""
        if self.retired_key_ttl is not None:
            return self.retired_key_ttl
        return max(self.access_ttl, self.id_ttl) + self.leeway


#: Dialects of SQL carried to upstreams: those whose row filters ``rls.fences`` can fence.
UPSTREAM_SQL_DIALECTS = ("postgres", "sqlite", "mysql", "duckdb")


class SqlCarrier(Model):
    """Where an upstream request carries SQL, and in which dialect (``routes.rules[].sql``).

    ``at`` is ``json:/pointer`` (an RFC 6901 pointer into a JSON body), ``query:name`` (a query
    string parameter) or ``body`` (the whole body is the statement).
    """

    at: str
    dialect: str = "postgres"

    @field_validator("at")
    @classmethod
    def _at(cls, value: str) -> str:
        if value == "body":
            return value
        kind, _, where = value.partition(":")
        if kind == "json" and (where == "" or where.startswith("/")):
            return value
        if kind == "query" and where:
            return value
        raise ValueError(f"expected json:/pointer, query:name or body, got {value!r}")

    @field_validator("dialect")
    @classmethod
    def _dialect(cls, value: str) -> str:
        if value not in UPSTREAM_SQL_DIALECTS:
            raise ValueError(
                f"expected one of {', '.join(UPSTREAM_SQL_DIALECTS)} (the dialects whose row filters "
                f"rowgate can fence; see README, Upstream SQL routes), got {value!r}"
            )
        return value


class OwnerCheck(Model):
    """``level: owner``: the row of ``table`` whose primary key is the path parameter ``param``
    must be visible to the caller under the table's ``self`` rule."""

    table: str
    param: str = "id"


class RouteRule(Model):
    path: str
    methods: tuple[str, ...] = ()
    level: Level
    sql: SqlCarrier | None = None
    owner: OwnerCheck | None = None
    #: Permissions the caller must hold, all of them (levels authenticated, admin and owner only).
    permissions: tuple[str, ...] = ()
    #: The caller must have signed in with a second factor (their token's ``amr`` holds ``mfa``).
    mfa: bool = False

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"expected a path pattern starting with / (like /api/**), got {value!r}")
        return value

    @field_validator("methods")
    @classmethod
    def _methods(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        upper = tuple(m.upper() for m in value)
        unknown = [m for m in upper if m not in HTTP_METHODS]
        if unknown:
            raise ValueError(f"expected HTTP methods from {sorted(HTTP_METHODS)}, got {unknown}")
        return upper

    @field_validator("permissions")
    @classmethod
    def _permissions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return check_required(value)


def route_problems(index: int, rule: RouteRule) -> list[str]:
    """Checks within one route rule: ``level: owner`` needs ``owner`` and a ``{param}`` in the path."""
    where = f"routes.rules[{index}]"
    if rule.level == "owner" and rule.owner is None:
        return [f"{where}.owner: level owner needs owner: {{table: ..., param: ...}}, got none"]
    if rule.owner is not None and rule.level != "owner":
        return [f"{where}.owner: only used with level: owner, got level {rule.level}"]
    if rule.owner is not None and "{" + rule.owner.param + "}" not in rule.path:
        return [f"{where}.owner.param: the path must capture {{{rule.owner.param}}}, got {rule.path!r}"]
    return []


class RouteSettings(Model):
    default: Level = "deny"
    rules: tuple[RouteRule, ...] = ()
    #: Match paths with their letter case (HTTP's rule); false for upstreams that ignore it.
    case_sensitive: bool = True


class MountSettings(Model):
    auth: str = "/v1/auth"
    rbac: str = "/v1/rbac"
    data: str = "/v1/data"
    sql: str = "/v1/sql"
    admin: str = "/v1/admin"

    @field_validator("*")
    @classmethod
    def _mount(cls, value: str) -> str:
        if not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", value):
            raise ValueError(f"expected a path like /v1/auth (no trailing slash), got {value!r}")
        return value


class LoggingSettings(Model):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "text"] = "json"
    access_log: bool = True


class Settings(Model):
    mode: Literal["dev", "production"] = "dev"
    data_dir: Path = Path(".rowgate")
    #: The policy file; ``None`` (``policies: null``) runs rowgate without the data API.
    policies: Path | None = Path("policies.yaml")
    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    upstream: UpstreamSettings = UpstreamSettings()
    tokens: TokenSettings = TokenSettings()
    routes: RouteSettings = RouteSettings()
    mounts: MountSettings = MountSettings()
    rbac: RbacSettings = RbacSettings()
    data: DataSettings = DataSettings()
    logging: LoggingSettings = LoggingSettings()
    auth: AuthSettings = AuthSettings()
    mail: MailSettings = MailSettings()
    api_keys: ApiKeySettings = ApiKeySettings()
    rate_limits: RateLimitSettings = RateLimitSettings()
    invitations: InvitationSettings = InvitationSettings()
    audit: AuditSettings = AuditSettings()
    issuers: tuple[ExternalIssuer, ...] = ()
    alerts: AlertSettings = AlertSettings()
    dashboard: DashboardSettings = DashboardSettings()

    @model_validator(mode="before")
    @classmethod
    def _production_defaults(cls, data: object) -> object:
        """Production requires verified addresses unless ``auth.require_email_verification`` says
        otherwise: it is what keeps signup from telling who has an account."""
        if not isinstance(data, dict) or data.get("mode") != "production":
            return data
        auth = data.get("auth")
        if auth is None:
            auth = {}
        if isinstance(auth, dict) and "require_email_verification" not in auth:
            return {**data, "auth": {**auth, "require_email_verification": True}}
        return data

    @property
    def public_url(self) -> str:
        return self.server.public_url or f"http://{self.server.host}:{self.server.port}"

    @property
    def issuer(self) -> str:
        return self.tokens.issuer or self.public_url

    def resolved(self, base_dir: Path) -> Settings:
        """Paths made absolute: ``policies`` relative to the config file, ``data_dir`` to the cwd."""
        policies = self.policies
        if policies is not None:
            policies = (policies if policies.is_absolute() else base_dir / policies).resolve()
        return self.model_copy(update={"policies": policies, "data_dir": self.data_dir.resolve()})


def cross_field_problems(settings: Settings) -> list[str]:
    """Checks that span several keys; each problem as ``key.path: message``."""
    problems = []
    if settings.database.pool_min_size > settings.database.pool_max_size:
        problems.append(
            "database.pool_min_size: must not exceed database.pool_max_size "
            f"({settings.database.pool_min_size} > {settings.database.pool_max_size})"
        )
    if settings.server.header_timeout <= timedelta(0):
        problems.append("server.header_timeout: must be longer than zero")
    if settings.redis.state_check_interval < timedelta(milliseconds=100):
        problems.append("redis.state_check_interval: at least 100ms")
    if settings.tokens.access_ttl <= timedelta(0):
        problems.append("tokens.access_ttl: must be longer than zero")
    if settings.tokens.refresh_ttl < settings.tokens.access_ttl:
        problems.append("tokens.refresh_ttl: must be at least tokens.access_ttl")
    if settings.auth.retention < settings.tokens.access_ttl + settings.tokens.leeway:
        problems.append(
            "auth.retention: at least tokens.access_ttl + tokens.leeway (a revocation is kept that "
            "long, so that instances can rebuild their list from the database)"
        )
    if settings.tokens.leeway > timedelta(minutes=5):
        problems.append("tokens.leeway: at most 5m (a longer leeway keeps expired tokens alive)")
    if settings.routes.default == "owner":
        problems.append("routes.default: owner needs a rule with owner: {table, param}; use it on a rule")
    for index, rule in enumerate(settings.routes.rules):
        problems.extend(route_problems(index, rule))
    data = settings.data
    if data.default_limit > data.max_limit:
        problems.append(
            f"data.default_limit: must not exceed data.max_limit ({data.default_limit} > {data.max_limit})"
        )
    if data.max_limit > data.max_rows:
        problems.append(f"data.max_limit: must not exceed data.max_rows ({data.max_limit} > {data.max_rows})")
    if data.pool_min_size > data.pool_max_size:
        problems.append("data.pool_min_size: must not exceed data.pool_max_size")
    if data.native_rls and data.role is None:
        problems.append(
            "data.native_rls: the native policies apply to data.role; name a role or turn native_rls off"
        )
    if settings.mode == "production" and settings.tokens.algorithm == "HS256":
        problems.append(
            "tokens.algorithm: HS256 shares one secret with every verifier; "
            "use EdDSA, ES256 or RS256 in production"
        )
    problems.extend(identity_problems(settings.mode, settings.auth, settings.mail))
    for index, rule in enumerate(settings.routes.rules):
        if rule.permissions and rule.level not in ("authenticated", "admin", "owner"):
            problems.append(
                f"routes.rules[{index}].permissions: only rules of level authenticated, admin or owner "
                f"can require permissions (this one is {rule.level})"
            )
        if rule.mfa and rule.level not in ("authenticated", "admin", "owner"):
            problems.append(
                f"routes.rules[{index}].mfa: only rules of level authenticated, admin or owner "
                f"can require MFA (this one is {rule.level})"
            )
    problems.extend(tenancy_problems(settings.mode, settings.issuer, settings.rbac, settings.issuers))
    problems.extend(rate_limit_problems(settings.rate_limits))
    problems.extend(alert_problems(settings.mode, settings.alerts))
    problems.extend(dashboard_problems(settings.dashboard, settings.mounts.model_dump()))
    return problems


def _redact(url: str) -> str:
    """A URL with any password replaced, for error messages."""
    return re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", url)
