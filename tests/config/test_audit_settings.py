"""The ``audit`` section: retention and platform operators."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from rowgate.config import DEFAULT_CONFIG, load_settings
from rowgate.errors import ConfigError


def problems(**overrides: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(DEFAULT_CONFIG, environ={}, overrides=overrides)
    return [p.split(": ", 1)[1] for p in caught.value.problems]


def test_the_bundled_defaults_keep_a_year_and_name_no_operator() -> None:
    settings = load_settings(DEFAULT_CONFIG, environ={})
    assert settings.audit.retention == timedelta(days=365)
    assert settings.audit.operators == ()
    assert settings.mounts.admin == "/v1/admin"


def test_operators_are_user_ids_or_email_addresses_in_one_spelling() -> None:
    settings = load_settings(
        DEFAULT_CONFIG,
        environ={},
        overrides={"audit.operators": ["Ops@Example.com", "6F9619FF-8B86-D011-B42D-00C04FC964FF"]},
    )
    assert settings.audit.operators == ("ops@example.com", "6f9619ff-8b86-d011-b42d-00c04fc964ff")


@pytest.mark.parametrize(
    ("overrides", "where"),
    [
        ({"audit.operators": ["admin"]}, "audit.operators"),
        ({"audit.retention": "1h"}, "audit.retention"),
        ({"audit.keep": "1d"}, "audit.keep"),
    ],
)
def test_bad_audit_settings_are_named_with_their_path(overrides: dict[str, Any], where: str) -> None:
    assert any(problem.startswith(where) for problem in problems(**overrides)), problems(**overrides)
