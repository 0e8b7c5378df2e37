"""The links rowgate mails: the application's page when one is configured, else rowgate's own page.

``auth.verify_url``, ``auth.reset_url`` and ``invitations.accept_url`` name the application's
pages (``{token}`` stands for the token); unset, the link opens rowgate's own page under the auth
mount.  A magic link always opens rowgate's page: rowgate redeems it and sends the browser on to
the application with a single-use code.
"""

from __future__ import annotations

from urllib.parse import quote

from rowgate.auth.mail.links import Link, Links
from rowgate.config.schema import Settings


def mail_links(settings: Settings) -> Links:
    return Links(
        verify_email=_link(settings.auth.verify_url or _own(settings, "/email/verify")),
        reset_password=_link(settings.auth.reset_url or _own(settings, "/password/reset")),
        accept_invitation=_link(settings.invitations.accept_url or _own(settings, "/invitations/accept")),
        magic_link=_link(_own(settings, "/email/magiclink")),
    )


def _own(settings: Settings, path: str) -> str:
    return f"{settings.public_url}{settings.mounts.auth}{path}?token={{token}}"


def _link(template: str) -> Link:
    return lambda token: template.replace("{token}", quote(token, safe=""))
