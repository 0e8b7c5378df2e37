"""The ``dashboard`` section: the admin dashboard's mount point, and whether it is served at all."""

from __future__ import annotations

import re

from pydantic import field_validator

from rowgate.config.model import Model

_MOUNT = re.compile(r"(/[A-Za-z0-9._~-]+)+")


class DashboardSettings(Model):
    #: Serve the dashboard; off, its mount is an upstream path like any other.
    enabled: bool = True
    #: Where it is served (a path like ``/admin``, no trailing slash).
    mount: str = "/admin"
    #: Refuse admins who have not turned on two-factor authentication (an organisation's own MFA
    #: policy applies as well: a member it covers who has no second factor is refused).
    require_mfa: bool = False

    @field_validator("mount")
    @classmethod
    def _mount(cls, value: str) -> str:
        if not _MOUNT.fullmatch(value) or any(part in (".", "..") for part in value.split("/")):
            raise ValueError(f"expected a path like /admin (no trailing slash), got {value!r}")
        return value


def dashboard_problems(dashboard: DashboardSettings, mounts: dict[str, str]) -> list[str]:
    """The dashboard's mount must not be, hold or lie below another of rowgate's mounts."""
    if not dashboard.enabled:
        return []
    mine = dashboard.mount.casefold()
    for name, other in mounts.items():
        theirs = other.casefold()
        if mine == theirs or mine.startswith(theirs + "/") or theirs.startswith(mine + "/"):
            return [f"dashboard.mount: {dashboard.mount!r} overlaps mounts.{name} ({other!r})"]
    return []
