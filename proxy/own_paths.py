"""rowgate's own paths, which never reach the upstream, whatever the route rules say.

A path below one of rowgate's mount points that no endpoint of rowgate answers is refused by
rowgate: a wrong method on one of its endpoints is a 405 (with ``Allow``), an unknown path below
a mount point a 404.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from aiohttp import web

from rowgate.config.schema import Settings
from rowgate.errors import MethodNotAllowed, NotFound


def own_prefixes(settings: Settings) -> tuple[str, ...]:
    mounts = settings.mounts
    dashboard = (settings.dashboard.mount,) if settings.dashboard.enabled else ()
    return (
        *dashboard,
        mounts.auth,
        mounts.rbac,
        mounts.data,
        mounts.sql,
        mounts.admin,
        "/.well-known",
        "/healthz",
        "/readyz",
    )


@dataclass(frozen=True, slots=True)
class OwnPaths:
    """rowgate's endpoints (path → methods) and mount points, collected once its routes are in."""

    endpoints: Mapping[str, frozenset[str]]
    prefixes: tuple[str, ...]
    fold: Callable[[str], str]

    @classmethod
    def of(cls, router: web.UrlDispatcher, settings: Settings) -> OwnPaths:
        paths: dict[str, set[str]] = {}
        for resource in router.resources():
            info = resource.get_info()
            if "path" in info:
                paths.setdefault(info["path"], set()).update(route.method for route in resource)
        fold = str if settings.routes.case_sensitive else str.casefold
        endpoints = {path: frozenset(methods) for path, methods in paths.items()}
        return cls(endpoints, tuple(fold(prefix) for prefix in own_prefixes(settings)), fold)

    def refuse(self, path: str) -> None:
        """Raise 405 or 404 when the canonical ``path`` is rowgate's, not the upstream's."""
        allowed = self.endpoints.get(path)
        if allowed:
            methods = ", ".join(sorted(allowed))
            raise MethodNotAllowed(f"Use one of: {methods}.", headers={"Allow": methods})
        folded = self.fold(path)
        for prefix in self.prefixes:
            if folded == prefix or folded.startswith(prefix + "/"):
                raise NotFound("No such rowgate endpoint.")
