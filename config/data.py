"""Settings of the data API (``data:``): ``/v1/data``, ``/v1/sql`` and SQL rewriting for upstreams."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator

from rowgate.config.model import Model
from rowgate.config.units import Duration, Size

SqlAccess = Literal["off", "admin", "authenticated", "public"]
Permissions = Literal["enforce", "off"]


class DataSettings(Model):
    """The data API (``/v1/data``, ``/v1/sql``) and SQL rewriting for upstream routes."""

    #: Who may use ``POST /v1/sql``: off, admin (tenant admins), authenticated, public.
    sql_access: SqlAccess = "authenticated"
    #: ``enforce``: every operation on a table needs the caller's permission ``<table>:<action>``
    #: (read, create, update, delete), before the row policy confines it; ``off``: rows only.
    permissions: Permissions = "enforce"
    #: ``limit`` when a REST read gives none, and the largest ``limit`` it may ask for.
    default_limit: int = Field(100, ge=1, le=100_000)
    max_limit: int = Field(1000, ge=1, le=100_000)
    #: Most rows one statement may return (or objects one POST may insert) before it is refused.
    max_rows: int = Field(10_000, ge=1, le=10_000_000)
    #: ``statement_timeout`` of every connection of the data pool (longer statements: 504).
    statement_timeout: Duration = timedelta(seconds=5)
    #: Schemas whose tables the REST API and the rewriter's schema cover (introspected).
    schemas: tuple[str, ...] = ("public",)
    #: The least-privileged database role every data API statement runs as (``SET LOCAL ROLE`` in
    #: its transaction): rowgate creates it (NOLOGIN) and grants it the served tables only.
    #: ``null``: statements run as rowgate's own connection role, with no second wall.
    role: str | None = "rowgate_data"
    #: The second wall's rows: the exported native policies, installed on every served table for
    #: ``role`` and required at start-up and on reload (``rowgate policy export --sql``).
    native_rls: bool = True
    #: Largest answer one statement may give (rows measured as PostgreSQL's text form, counted by
    #: the database as it produces them): a larger one is refused before it is sent.
    max_response_bytes: Size = 16 * 1024 * 1024
    #: Watch the policy file and swap in a changed, valid file (SIGHUP always reloads).
    reload: bool = True
    #: How often the policy file's modification time is checked when ``reload`` is on.
    reload_interval: Duration = timedelta(seconds=2)
    #: Largest JSON body ``POST /v1/data/...``, ``PATCH`` and ``/v1/sql`` accept.
    max_body_size: Size = 1024 * 1024
    pool_min_size: int = Field(1, ge=0, le=1000)
    pool_max_size: int = Field(10, ge=1, le=1000)

    @field_validator("role")
    @classmethod
    def _role(cls, value: str | None) -> str | None:
        if value and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$-]{0,62}", value):
            raise ValueError(f"expected a database role name, got {value!r}")
        if value and (value.lower().startswith("pg_") or value.lower() in _RESERVED_ROLES):
            raise ValueError(f"{value!r} is a name PostgreSQL reserves; name a role of rowgate's own")
        return value or None

    @field_validator("max_response_bytes")
    @classmethod
    def _max_response_bytes(cls, value: int) -> int:
        if value < 1024:
            raise ValueError(f"expected at least 1KiB, got {value} bytes")
        return value

    @field_validator("schemas")
    @classmethod
    def _schemas(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [s for s in value if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", s)]
        if not value or bad:
            raise ValueError(f"expected one or more plain schema names like public, got {list(value)}")
        if "rowgate" in value:
            raise ValueError("rowgate's own schema is never reachable through the data API")
        return value


#: Role names PostgreSQL keeps for itself (``pg_*`` too).
_RESERVED_ROLES = frozenset({"public", "none", "current_user", "session_user", "current_role"})
