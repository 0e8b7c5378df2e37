"""The ``dashboard`` section: on at /admin by default; a bad or overlapping mount names its key."""

from __future__ import annotations

from typing import Any

import pytest

from rowgate.config import DEFAULT_CONFIG, load_settings
from rowgate.errors import ConfigError


def problems(**overrides: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(DEFAULT_CONFIG, environ={}, overrides=overrides)
    return list(caught.value.problems)


def test_the_bundled_defaults_serve_the_dashboard_at_admin() -> None:
    settings = load_settings(DEFAULT_CONFIG, environ={})
    assert settings.dashboard.enabled is True
    assert settings.dashboard.mount == "/admin"
    assert settings.dashboard.require_mfa is False


@pytest.mark.parametrize("mount", ["admin", "/admin/", "/ad min", "", "/admin/../x"])
def test_a_mount_that_is_not_a_plain_path_is_refused_by_its_key(mount: str) -> None:
    found = problems(**{"dashboard.mount": mount})
    assert len(found) == 1
    assert found[0].startswith(("dashboard.mount:", f"{DEFAULT_CONFIG}: dashboard.mount:"))
    assert "expected a path like /admin" in found[0]


@pytest.mark.parametrize("mount", ["/v1/auth", "/v1/admin/dashboard", "/v1", "/V1/Data"])
def test_a_mount_over_one_of_rowgate_s_own_is_refused(mount: str) -> None:
    found = problems(**{"dashboard.mount": mount})
    assert len(found) == 1
    assert "dashboard.mount" in found[0]
    assert "overlaps mounts." in found[0]


def test_turned_off_its_mount_is_not_checked() -> None:
    settings = load_settings(
        DEFAULT_CONFIG, environ={}, overrides={"dashboard.enabled": False, "dashboard.mount": "/v1/auth"}
    )
    assert settings.dashboard.enabled is False


def test_unknown_keys_are_refused() -> None:
    assert "dashboard.colour" in problems(**{"dashboard.colour": "blue"})[0]
