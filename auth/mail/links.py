"""The links rowgate mails, built by the HTTP layer and handed in.

The identity and organisation flows mail links (confirm an address, reset a password, accept an
invitation) without knowing any URL: the HTTP layer owns the routes and the configured pages of the
application, so it builds ``Links`` at start-up.  Each callable takes the single-use token and
answers the whole link.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Link = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class Links:
    verify_email: Link
    reset_password: Link
    accept_invitation: Link
    magic_link: Link
