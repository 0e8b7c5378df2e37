"""Settings of the data API (``data:``): ``/v1/data``, ``/v1/sql`` and SQL rewriting for upstreams."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator

from config.model import Model
from config.units import Duration, Size

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
    #: A database role the data API switches to in every transaction (``SET LOCAL ROLE``); give it
    #: only the privileges the app's tables need.  Unset: rowgate's own connection role.
    role: str | None = None
    #: Expect the exported native policies (``rowgate policy export``) on every table as a second
    #: layer: start-up and reload check that row security is enabled and forced on each.
    native_rls: bool = False
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
        return value or None

    @field_validator("schemas")
    @classmethod
    def _schemas(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [s for s in value if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", s)]
        if not value or bad:
            raise ValueError(f"expected one or more plain schema names like public, got {list(value)}")
        if "rowgate" in value:
            raise ValueError("rowgate's own schema is never reachable through the data API")
        return value
