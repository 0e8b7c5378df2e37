"""What a dashboard page is: a navigation entry, the handler that shows it, and its other routes.

``proxy.dashboard.pages`` says how to write one and lists them all (``PAGES``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from rowgate.proxy.dashboard.session import Admin

#: A page handler: the request and the signed-in admin in, a response (``render``) out.
PageHandler = Callable[[web.Request, Admin], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Route:
    """A route of a page besides its view: a form's action (POST) or a sub-page (GET)."""

    method: Literal["GET", "POST"]
    #: Below the mount, like ``/members/{user_id}/role``; ``{name}`` captures one segment.
    path: str
    handler: PageHandler
    #: One line for the OpenAPI document.
    summary: str
    #: The form's fields besides ``csrf`` (documentation; the handler reads and checks them).
    form: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Page:
    """One entry of the navigation."""

    #: Below the mount, like ``/members``.
    path: str
    title: str
    #: Shows the page (GET).
    view: PageHandler
    routes: tuple[Route, ...] = ()
    #: Needs a chosen organisation (False: a platform operator who administers none may open it).
    needs_org: bool = True
    #: For platform operators only (``audit.operators``): out of everyone else's navigation (the
    #: handlers refuse them too).
    operators_only: bool = False
