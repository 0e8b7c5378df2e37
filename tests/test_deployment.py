"""The container deployment: ``docker compose config`` accepts docker-compose.yml (where docker
compose is installed), and the files keep the promises the README makes about them.  The same
topology runs without containers in tests/proxy/test_replicas.py."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8")))


def compose_command() -> list[str] | None:
    """``docker compose`` (the plugin), else ``docker-compose`` (Debian's), else None."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=60)
        if probe.returncode == 0:
            return ["docker", "compose"]
    found = shutil.which("docker-compose")
    return [found] if found else None


def test_docker_compose_config_accepts_the_file() -> None:
    command = compose_command()
    if command is None:
        pytest.skip(
            "neither docker compose nor docker-compose is installed (.ci/run installs docker-compose)"
        )
    result = subprocess.run(
        [*command, "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "ROWGATE_MASTER_KEY": "k" * 43},
    )
    assert result.returncode == 0, result.stderr
    assert "ignored" not in result.stderr, result.stderr  # docker-compose ignores what it cannot run


def test_migrations_run_once_before_three_replicas_behind_nginx() -> None:
    services = compose()["services"]
    assert services["rowgate"]["deploy"]["replicas"] == 3
    migrated = {"condition": "service_completed_successfully"}
    assert services["rowgate"]["depends_on"]["migrate"] == migrated
    assert "rowgate migrate" in services["migrate"]["command"][0]
    assert "create_demo_tables" in services["migrate"]["command"][0]
    assert services["lb"]["depends_on"]["rowgate"] == {"condition": "service_healthy"}
    assert "./nginx.conf:/etc/nginx/conf.d/default.conf:ro" in services["lb"]["volumes"]
    assert "--appendonly" in services["redis"]["command"]
    assert any(volume.endswith(":/data") for volume in services["redis"]["volumes"])


def test_every_health_check_has_a_start_period() -> None:
    for name, service in compose()["services"].items():
        check = service.get("healthcheck", {})
        if not check.get("disable"):
            assert "start_period" in check, name


def test_the_image_runs_as_a_user_without_the_embedded_database() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert dockerfile.count("FROM ") == 2  # the wheel is built once, in its own stage
    assert "rm /wheels/pgserver-" in dockerfile
    assert "\nUSER rowgate\n" in dockerfile
    assert "HEALTHCHECK" in dockerfile
    assert "/readyz" in dockerfile
