"""Tenancy settings: roles, permissions on route rules, API keys, invitations, external issuers."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from rowgate.config import DEFAULT_CONFIG, load_settings
from rowgate.errors import ConfigError

ISSUER = {
    "issuer": "https://idp.example.com/",
    "jwks_url": "https://idp.example.com/jwks",
    "audiences": ["app"],
}


def problems(**overrides: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(DEFAULT_CONFIG, environ={}, overrides=overrides)
    return [p.split(": ", 1)[1] for p in caught.value.problems]


def test_the_bundled_defaults() -> None:
    settings = load_settings(DEFAULT_CONFIG, environ={})
    assert settings.rbac.roles["admin"] == ("*",)
    assert settings.rbac.roles["viewer"] == ("*:read",)
    assert settings.rbac.admin_roles == ("admin",)
    assert settings.api_keys.cache_ttl == timedelta(minutes=1)
    assert settings.api_keys.usage_flush_interval == timedelta(seconds=10)
    assert settings.invitations.ttl == timedelta(days=7)
    assert settings.issuers == ()
    assert settings.rbac.guest_permissions == ("*:read",)
    assert settings.data.permissions == "enforce"
    assert (settings.rate_limits.ip.limit, settings.rate_limits.ip.seconds) == (600, 60)


def test_a_route_rule_may_require_permissions() -> None:
    rules = [{"path": "/api/tasks/**", "level": "authenticated", "permissions": ["tasks:read"]}]
    settings = load_settings(DEFAULT_CONFIG, environ={}, overrides={"routes.rules": rules})
    assert settings.routes.rules[0].permissions == ("tasks:read",)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"routes.rules": [{"path": "/x", "level": "authenticated", "permissions": ["tasks:*"]}]},
            "routes.rules[0].permissions: expected permissions like tasks:read (one resource, one action)",
        ),
        (
            {"routes.rules": [{"path": "/x", "level": "public", "permissions": ["tasks:read"]}]},
            "routes.rules[0].permissions: only rules of level authenticated, admin or owner",
        ),
        (
            {"routes.rules": [{"path": "/x", "level": "public", "mfa": True}]},
            "routes.rules[0].mfa: only rules of level authenticated, admin or owner can require MFA",
        ),
        ({"auth.mfa.step_up_window": "soon"}, "auth.mfa.step_up_window: "),
        ({"rbac.roles": {"Admin": ["*"]}}, "rbac.roles: expected role names like member"),
        ({"rbac.roles": {"admin": ["tasks"]}}, "rbac.roles: expected permissions like tasks:read"),
        ({"rbac.admin_roles": ["owner"]}, "rbac.admin_roles: ['owner'] are not roles declared"),
        ({"rbac.admin_roles": []}, "rbac.admin_roles: name at least one role"),
        (
            {"invitations.accept_url": "https://app.example.com/join"},
            "invitations.accept_url: expected an http(s) URL holding {token}",
        ),
        ({"issuers": [{**ISSUER, "audiences": []}]}, "issuers[0].audiences: "),
        ({"issuers": [{**ISSUER, "algorithms": ["HS256"]}]}, "issuers[0].algorithms[0]: "),
        ({"issuers": [{**ISSUER, "algorithms": ["none"]}]}, "issuers[0].algorithms[0]: "),
        (
            {"issuers": [{**ISSUER, "jwks_url": "file:///etc/passwd"}]},
            "issuers[0].jwks_url: expected an http(s) URL",
        ),
        ({"issuers": [ISSUER, ISSUER]}, "issuers[1].issuer: 'https://idp.example.com/' is configured twice"),
        (
            {"issuers": [{**ISSUER, "issuer": "http://127.0.0.1:8080"}]},
            "issuers[0].issuer: is rowgate's own issuer",
        ),
        (
            {"issuers": [{**ISSUER, "default_role": "owner"}]},
            "issuers[0].default_role: 'owner' is not a role",
        ),
        (
            {"mode": "production", "issuers": [{**ISSUER, "jwks_url": "http://idp.example.com/jwks"}]},
            "issuers[0].jwks_url: must be https in production",
        ),
        ({"api_keys.max_per_org": 0}, "api_keys.max_per_org: "),
        (
            {"rbac.guest_permissions": ["posts"]},
            "rbac.guest_permissions: expected permissions like tasks:read",
        ),
        ({"rbac.policy_roles": ["Editor"]}, "rbac.policy_roles: expected role names like editor"),
        ({"rbac.policy_roles": ["viewer"]}, "rbac.policy_roles: ['viewer'] are built-in roles (rbac.roles)"),
        ({"data.permissions": "maybe"}, "data.permissions: input should be 'enforce' or 'off'"),
        (
            {"rate_limits.ip": {"limit": -5, "window": "1m"}},
            "rate_limits.ip.limit: input should be greater than",
        ),
        (
            {"rate_limits.user": {"limit": 10**9, "window": "1m"}},
            "rate_limits.user.limit: input should be less",
        ),
        (
            {"rate_limits.user": {"limit": 10, "window": "0s"}},
            "rate_limits.user.window: expected whole seconds",
        ),
        (
            {"rate_limits.user": {"limit": 10, "window": "2d"}},
            "rate_limits.user.window: expected whole seconds",
        ),
        ({"rate_limits.user": {"limit": 10, "window": "1500ms"}}, "rate_limits.user.window: expected whole"),
        ({"rate_limits.api_key": {"limit": 10}}, "rate_limits.api_key.window: required key is missing"),
        (
            {"rate_limits.api_key": {"limit": 2000, "window": "1s"}},
            "rate_limits.api_key: must not be more generous than rate_limits.max_api_key",
        ),
    ],
)
def test_mistakes_are_named(overrides: dict[str, Any], expected: str) -> None:
    found = problems(**overrides)
    assert any(p.startswith(expected) for p in found), found


def test_an_external_issuer_with_its_defaults(tmp_path: Path) -> None:
    settings = load_settings(DEFAULT_CONFIG, environ={}, overrides={"issuers": [ISSUER]})
    issuer = settings.issuers[0]
    assert issuer.algorithms == ("RS256",)
    assert issuer.claims.user_id == "sub"
    assert issuer.audience_claim == "aud"
    assert issuer.jwks_refetch_interval == timedelta(seconds=30)
