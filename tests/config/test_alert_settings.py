"""The ``alerts:`` section: defaults as the bundled file says, every mistake named by its key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from rowgate.config import DEFAULT_CONFIG, load_settings
from rowgate.config.alerts import AlertSettings
from rowgate.errors import ConfigError


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "rowgate.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    return caught.value.problems


def test_the_bundled_file_matches_the_model_defaults() -> None:
    settings = load_settings(DEFAULT_CONFIG, environ={})
    assert settings.alerts == AlertSettings()
    assert settings.alerts.geoip_database is None
    assert settings.alerts.failure_burst.window == timedelta(minutes=10)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("alerts: {webhooks: ['ftp://hooks.example.com/x']}", "alerts.webhooks"),
        ("alerts: {webhooks: ['https://user:pw@hooks.example.com/x']}", "must not hold credentials"),
        ("alerts: {webhooks: ['not a url']}", "alerts.webhooks"),
        ("alerts: {failure_burst: {failures: -3}}", "alerts.failure_burst.failures"),
        ("alerts: {failure_burst: {window: -5m}}", "alerts.failure_burst.window"),
        ("alerts: {impossible_travel: {max_speed_kmh: -1}}", "alerts.impossible_travel.max_speed_kmh"),
        ("alerts: {impossible_travel: {min_distance_km: -1}}", "alerts.impossible_travel.min_distance_km"),
        ("alerts: {poll_interval: 0s}", "alerts.poll_interval: must be longer than zero"),
        ("alerts: {retry_schedule: [1s, 0s]}", "alerts.retry_schedule[1]: must be longer than zero"),
        ("alerts: {retry_schedule: [1s, -1s]}", "alerts.retry_schedule[1]"),
        ("alerts: {failure_burst: {window: 0s}}", "alerts.failure_burst.window: must be longer than zero"),
        ("alerts: {new_device: {notify: [everyone]}}", "alerts.new_device.notify"),
        ("alerts: {lockout: {threshold: 3}}", "alerts.lockout.threshold"),
    ],
)
def test_mistakes_are_named_by_their_key(tmp_path: Path, text: str, expected: str) -> None:
    found = problems(tmp_path, text)
    assert any(expected in problem for problem in found), found


def test_production_wants_https_webhooks(tmp_path: Path) -> None:
    text = "mode: production\nalerts: {webhooks: ['http://hooks.example.com/x']}\n"
    found = problems(tmp_path, text)
    assert any(p.endswith("alerts.webhooks[0]: must use https in production") for p in found), found


def test_an_unreadable_geoip_file_is_named(tmp_path: Path) -> None:
    from rowgate.auth.alerts.geo import GeoLocator

    bad = tmp_path / "city.mmdb"
    bad.write_bytes(b"not a database")
    for path in (bad, tmp_path / "missing.mmdb"):
        with pytest.raises(ConfigError, match=r"alerts\.geoip_database: cannot open"):
            GeoLocator(path)
