"""The ``auth:`` and ``mail:`` sections: safe defaults, every mistake named."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest

from rowgate.auth.passwords.hashing import PasswordHasher
from rowgate.config import DEFAULT_CONFIG, load_settings
from rowgate.config.identity import AuthSettings, MailSettings
from rowgate.errors import ConfigError


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "rowgate.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    return caught.value.problems


def test_the_bundled_file_matches_the_model_defaults() -> None:
    settings = load_settings(DEFAULT_CONFIG, environ={})
    assert settings.auth == AuthSettings()
    assert settings.mail == MailSettings()
    assert settings.auth.argon2.memory_cost == 19456
    assert settings.auth.argon2.time_cost == 2
    assert settings.auth.reset_ttl == timedelta(minutes=30)
    assert settings.auth.password.preset == "default"
    assert settings.mail.backend == "file"


@pytest.mark.parametrize(
    ("overrides", "required"),
    [
        ({}, False),
        ({"mode": "production"}, True),
        ({"mode": "production", "auth.require_email_verification": False}, False),
        ({"auth.require_email_verification": True}, True),
    ],
)
def test_production_requires_verified_addresses_unless_told_otherwise(
    overrides: dict[str, object], required: bool
) -> None:
    settings = load_settings(DEFAULT_CONFIG, overrides=overrides, environ={})
    assert settings.auth.require_email_verification is required


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        (
            "auth:\n  password:\n    preset: strong\n",
            "auth.password.preset: input should be 'default' or 'nist'",
        ),
        ("auth:\n  password:\n    max_length: 32\n", "auth.password.max_length"),
        ("auth:\n  password:\n    min_length: 70\n", "auth.password.min_length"),
        ("auth:\n  lockout:\n    account:\n      threshold: 0\n", "auth.lockout.account.threshold"),
        ("auth:\n  rate_limits:\n    signup: {limit: 0, window: 1h}\n", "auth.rate_limits.signup.limit"),
        (
            "auth:\n  verify_url: https://app.test/verify\n",
            "auth.verify_url: expected an http(s) URL holding {token}",
        ),
        ("auth:\n  refresh_reuse_interval: 5m\n", "auth.refresh_reuse_interval: at most 1m"),
        ("auth:\n  reset_ttl: 0s\n", "auth.reset_ttl: must be longer than zero"),
        ("auth:\n  retention: 10m\n", "auth.retention: at least tokens.access_ttl + tokens.leeway"),
        (
            "auth:\n  lockout:\n    ip: {threshold: 5, base_delay: 2h, max_delay: 1h, window: 1h}\n",
            "auth.lockout.ip.base_delay: must not exceed",
        ),
        (
            "auth:\n  argon2:\n    max_wait: 5ms\n",
            "auth.argon2.max_wait: expected a duration from 10ms to 1m",
        ),
        ("auth:\n  argon2:\n    max_wait: 2m\n", "auth.argon2.max_wait: expected a duration from 10ms to 1m"),
        ("auth:\n  argon2:\n    max_wait: soon\n", "auth.argon2.max_wait: expected a duration like 15m"),
        ("auth:\n  argon2:\n    threads: 0\n", "auth.argon2.threads"),
        ("mail:\n  backend: sendmail\n", "mail.backend"),
        ("mail:\n  from_address: nobody\n", "mail.from_address: expected an address"),
        ("mail:\n  smtp:\n    security: ssl\n", "mail.smtp.security"),
        ("mail:\n  smtp:\n    password: hunter2\n", "mail.smtp.password: unknown key"),
        ("mode: production\nauth:\n  argon2:\n    memory_cost: 4096\n", "auth.argon2: below OWASP's minimum"),
        (
            "mode: production\nmail:\n  backend: smtp\n  smtp: {security: none, username: u}\n",
            "mail.smtp.security: 'none' sends the SMTP password in clear",
        ),
    ],
)
def test_each_bad_key_is_named(tmp_path: Path, yaml_text: str, expected: str) -> None:
    found = problems(tmp_path, yaml_text)
    assert len(found) == 1, found
    assert expected in found[0]
    assert found[0].startswith(f"{tmp_path / 'rowgate.yaml'}: ")


@pytest.mark.parametrize(
    ("memory", "time"), [(47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5), (7168, 9)]
)
def test_production_accepts_each_owasp_configuration(tmp_path: Path, memory: int, time: int) -> None:
    path = tmp_path / "rowgate.yaml"
    path.write_text(f"mode: production\nauth:\n  argon2: {{memory_cost: {memory}, time_cost: {time}}}\n")
    assert load_settings(path, environ={}).auth.argon2.memory_cost == memory


def test_links_with_a_token_placeholder_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "rowgate.yaml"
    path.write_text("auth:\n  reset_url: https://app.test/reset?t={token}\n")
    assert load_settings(path, environ={}).auth.reset_url == "https://app.test/reset?t={token}"


def test_a_partial_lockout_section_keeps_the_other_defaults(tmp_path: Path) -> None:
    path = tmp_path / "rowgate.yaml"
    path.write_text("auth:\n  lockout:\n    ip: {threshold: 20}\n    account: {max_delay: 1h}\n")
    lockout = load_settings(path, environ={}).auth.lockout
    assert (lockout.ip.threshold, lockout.ip.max_delay, lockout.ip.window) == (
        20,
        timedelta(hours=1),
        timedelta(hours=1),
    )
    assert (lockout.account.threshold, lockout.account.max_delay) == (5, timedelta(hours=1))


def test_a_file_with_the_replaced_max_queue_still_starts_and_is_told_it_is_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "rowgate.yaml"
    path.write_text("auth:\n  argon2: {max_queue: 256, memory_cost: 64, time_cost: 1}\n")
    argon2 = load_settings(path, environ={}).auth.argon2
    with caplog.at_level(logging.WARNING, logger="rowgate.hashing"):
        hasher = PasswordHasher(argon2)
    hasher.close()
    assert "auth.argon2.max_queue is no longer used" in caplog.text
    assert "auth.argon2.max_wait" in caplog.text
