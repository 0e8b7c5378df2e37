"""The links rowgate mails: the application's configured page, or rowgate's own page."""

from __future__ import annotations

from typing import Any

from rowgate.config.schema import Settings
from rowgate.proxy.links import mail_links

TOKEN = "abc-_XYZ09"


def settings(**sections: Any) -> Settings:
    return Settings.model_validate({"server": {"public_url": "https://id.example.com"}, **sections})


def test_unset_links_open_rowgates_own_pages() -> None:
    links = mail_links(settings())
    assert links.verify_email(TOKEN) == f"https://id.example.com/v1/auth/email/verify?token={TOKEN}"
    assert links.reset_password(TOKEN) == f"https://id.example.com/v1/auth/password/reset?token={TOKEN}"
    assert (
        links.accept_invitation(TOKEN) == f"https://id.example.com/v1/auth/invitations/accept?token={TOKEN}"
    )


def test_configured_links_open_the_applications_pages_with_the_token_quoted() -> None:
    links = mail_links(
        settings(
            auth={
                "verify_url": "https://app.example.com/verify/{token}",
                "reset_url": "https://app.example.com/reset?t={token}",
            },
            invitations={"accept_url": "https://app.example.com/join?invite={token}"},
        )
    )
    assert links.verify_email(TOKEN) == f"https://app.example.com/verify/{TOKEN}"
    assert links.reset_password("a/b c") == "https://app.example.com/reset?t=a%2Fb%20c"
    assert links.accept_invitation(TOKEN) == f"https://app.example.com/join?invite={TOKEN}"
