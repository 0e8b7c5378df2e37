"""``auth.magic_link``, ``auth.callback_urls`` and ``auth.providers``: defaults and every mistake named."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from rowgate.auth.social.providers import client_secret
from rowgate.config import DEFAULT_CONFIG, load_settings
from rowgate.config.social import GOOGLE_DISCOVERY, ProviderSettings
from rowgate.errors import ConfigError


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "rowgate.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    return caught.value.problems


def test_defaults() -> None:
    auth = load_settings(DEFAULT_CONFIG, environ={}).auth
    assert auth.magic_link.ttl == timedelta(minutes=15)
    assert auth.magic_link.allow_signup is False
    assert auth.callback_urls == ()
    assert auth.providers == {}
    assert auth.exchange_ttl == timedelta(minutes=1)


def test_google_is_a_preset() -> None:
    google = ProviderSettings(preset="google", client_id="c", client_secret_env="GOOGLE_SECRET")
    assert google.discovery() == GOOGLE_DISCOVERY


G = "preset: google, client_id: c, client_secret_env: S"
PLAIN_HTTP = "discovery_url: 'http://id.example.com/.well-known/openid-configuration'"


@pytest.mark.parametrize(
    ("yaml", "expected"),
    [
        ("auth: {callback_urls: ['ftp://x']}", "auth.callback_urls"),
        ("auth: {callback_urls: ['https://a.example.com/#x']}", "auth.callback_urls"),
        (
            "auth: {providers: {email: {{G}}}}",
            "auth.providers.email",
        ),
        (
            "auth: {providers: {Bad_Name: {{G}}}}",
            "auth.providers.Bad_Name",
        ),
        (
            "auth: {providers: {acme: {client_id: c, client_secret_env: S}}}",
            "auth.providers.acme.discovery_url",
        ),
        (
            "auth: {providers: {acme: {preset: google, client_id: c, client_secret_env: 'not a var'}}}",
            "client_secret_env",
        ),
        (
            "auth: {providers: {acme: {{G}, algorithms: [HS256]}}}",
            "algorithms",
        ),
        (
            "auth: {providers: {acme: {{G}, client_secret: x}}}",
            "client_secret",
        ),
        (
            "auth: {providers: {acme: {{G}, scopes: [email]}}}",
            "scopes",
        ),
        (
            "auth: {providers: {gh: {kind: github, {G}}}}",
            "preset",
        ),
        ("auth: {magic_link: {ttl: 0s}}", "auth.magic_link.ttl"),
        (
            "mode: production\nauth: {providers: {acme: {{PLAIN_HTTP}, client_id: c, client_secret_env: S}}}",
            "https in production",
        ),
    ],
)
def test_mistakes_are_named(tmp_path: Path, yaml: str, expected: str) -> None:
    found = problems(tmp_path, yaml.replace("{G}", G).replace("{PLAIN_HTTP}", PLAIN_HTTP))
    assert any(expected in p for p in found), found


def test_the_client_secret_comes_from_the_environment_only() -> None:
    acme = ProviderSettings(preset="google", client_id="c", client_secret_env="ACME_SECRET")
    assert client_secret("acme", acme, {"ACME_SECRET": "s3cret"}) == "s3cret"
    with pytest.raises(ConfigError) as caught:
        client_secret("acme", acme, {})
    assert "ACME_SECRET is not set" in caught.value.problems[0]
