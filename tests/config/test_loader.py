"""Loading settings: every mistake named with its file, key path and what was expected."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from rowgate.config import DEFAULT_CONFIG, load_settings
from rowgate.config.units import parse_duration, parse_size
from rowgate.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rowgate.yaml"
    path.write_text(text)
    return path


def problems(path: Path, **kwargs: object) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={}, **kwargs)  # type: ignore[arg-type]
    return caught.value.problems


def test_the_bundled_config_loads_with_safe_defaults() -> None:
    settings = load_settings(DEFAULT_CONFIG, environ={})
    assert settings.mode == "dev"
    assert settings.routes.default == "deny"
    assert settings.tokens.algorithm == "EdDSA"
    assert settings.tokens.access_ttl == timedelta(minutes=15)
    assert settings.database.url is None
    assert settings.redis.url is None
    assert settings.policies == (DEFAULT_CONFIG.parent / "policies.yaml").resolve()


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("tokens:\n  access_ttl: abc\n", "tokens.access_ttl: expected a duration like 15m or 1h, got 'abc'"),
        ("tokens:\n  acces_ttl: 15m\n", "tokens.acces_ttl: unknown key"),
        ("bogus: 1\n", "bogus: unknown key"),
        ("server:\n  port: eighty\n", "server.port: input should be a valid integer"),
        ("server:\n  port: 70000\n", "server.port: input should be less than or equal to 65535, got 70000"),
        (
            "server:\n  max_body_size: lots\n",
            "server.max_body_size: expected a size like 64KiB or 10MB, got 'lots'",
        ),
        (
            "server:\n  trusted_proxies: [10.0.0.0/33]\n",
            "server.trusted_proxies: expected IP addresses or CIDR",
        ),
        ("database:\n  url: mysql://x\n", "database.url: expected a URL like postgresql://"),
        ("redis:\n  url: http://x\n", "redis.url: expected a URL like redis://"),
        ("redis:\n  state_check_interval: 10ms\n", "redis.state_check_interval: at least 100ms"),
        ("server:\n  header_timeout: 0s\n", "server.header_timeout: must be longer than zero"),
        ("server:\n  max_slow_connections_per_ip: 0\n", "server.max_slow_connections_per_ip"),
        (
            "server:\n  proxy_headers: [X-Real-IP, 'bad header']\n",
            "server.proxy_headers: expected header names",
        ),
        (
            "tokens:\n  algorithm: none\n",
            "tokens.algorithm: input should be 'EdDSA', 'ES256', 'RS256' or 'HS256'",
        ),
        (
            "routes:\n  rules:\n    - path: api/**\n      level: public\n",
            "routes.rules[0].path: expected a path pattern",
        ),
        (
            "routes:\n  rules:\n    - path: /x\n      level: open\n",
            "routes.rules[0].level: input should be 'public'",
        ),
        ("routes:\n  rules:\n    - path: /x\n", "routes.rules[0].level: required key is missing"),
        (
            "routes:\n  rules:\n    - path: /x\n      level: public\n      methods: [FETCH]\n",
            "routes.rules[0].methods",
        ),
        ("mounts:\n  auth: /v1/auth/\n", "mounts.auth: expected a path like /v1/auth"),
        ("database:\n  pool_min_size: 20\n  pool_max_size: 5\n", "database.pool_min_size: must not exceed"),
        (
            "tokens:\n  access_ttl: 2h\n  refresh_ttl: 1h\n",
            "tokens.refresh_ttl: must be at least tokens.access_ttl",
        ),
        ("mode: production\ntokens:\n  algorithm: HS256\n", "tokens.algorithm: HS256 shares one secret"),
    ],
)
def test_each_bad_field_is_named_with_file_and_key(tmp_path: Path, yaml_text: str, expected: str) -> None:
    path = write(tmp_path, yaml_text)
    found = problems(path)
    assert len(found) == 1, found
    assert found[0].startswith(f"{path}: ")
    assert expected in found[0]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "tokens:\n  access_ttl: abc\n  leeway: forever\nserver:\n  port: x\nnope: 1\n")
    found = problems(path)
    assert {p.split(": ")[1] for p in found} == {"tokens.access_ttl", "tokens.leeway", "server.port", "nope"}


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  port: 8080\n   host: x\n")
    (problem,) = problems(path)
    assert problem.startswith(f"{path}: invalid YAML at line 3")


def test_a_list_at_the_top_level_is_refused(tmp_path: Path) -> None:
    (problem,) = problems(write(tmp_path, "- 1\n- 2\n"))
    assert "expected a mapping of settings at the top level, got list" in problem


def test_a_missing_file_says_how_to_point_at_one(tmp_path: Path) -> None:
    (problem,) = problems(tmp_path / "absent.yaml")
    assert "file not found (pass --config PATH or set ROWGATE_CONFIG)" in problem


def test_policies_are_relative_to_the_config_file_and_null_means_no_data_api(tmp_path: Path) -> None:
    assert (
        load_settings(write(tmp_path, "policies: rules.yaml\n"), environ={}).policies
        == tmp_path / "rules.yaml"
    )
    assert load_settings(write(tmp_path, "policies: null\n"), environ={}).policies is None


def test_environment_interpolation_with_defaults_and_escapes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "server:\n  port: ${PORT}\n  host: ${HOST:-10.1.2.3}\nredis:\n  key_prefix: $${not_a_var}\n",
    )
    settings = load_settings(path, environ={"PORT": "9000"})
    assert settings.server.port == 9000
    assert settings.server.host == "10.1.2.3"
    assert settings.redis.key_prefix == "${not_a_var}"


def test_an_unset_variable_without_default_is_named(tmp_path: Path) -> None:
    (problem,) = problems(write(tmp_path, "database:\n  url: ${DB_URL}\n"))
    assert problem == (
        f"{tmp_path / 'rowgate.yaml'}: database.url: environment variable DB_URL is not set "
        "(set it, or write ${DB_URL:-default} to give a default)"
    )


def test_environment_wins_over_the_file_and_flags_win_over_both(tmp_path: Path) -> None:
    path = write(tmp_path, "database:\n  url: postgresql://file/db\nserver:\n  port: 1000\n")
    env = {"ROWGATE_DATABASE_URL": "postgresql://env/db", "ROWGATE_REDIS_URL": "redis://env:6379/0"}
    settings = load_settings(path, environ=env)
    assert settings.database.url == "postgresql://env/db"
    assert settings.redis.url == "redis://env:6379/0"
    flagged = load_settings(
        path, environ=env, overrides={"database.url": "postgresql://flag/db", "server.port": 2000}
    )
    assert flagged.database.url == "postgresql://flag/db"
    assert flagged.server.port == 2000


def test_deployment_variables_override_any_file(tmp_path: Path) -> None:
    path = write(tmp_path, "mode: dev\ndata_dir: /file\nserver:\n  public_url: http://file:1\n  workers: 1\n")
    env = {
        "ROWGATE_MODE": "production",
        "ROWGATE_PUBLIC_URL": "https://auth.example.com/",
        "ROWGATE_TRUSTED_PROXIES": "10.0.0.0/8, 172.16.0.1",
        "ROWGATE_DATA_DIR": str(tmp_path / "state"),
        "ROWGATE_WORKERS": "3",
        "ROWGATE_MASTER_KEY": "k" * 43,
    }
    settings = load_settings(path, environ=env)
    assert settings.mode == "production"
    assert settings.public_url == "https://auth.example.com"
    assert settings.server.trusted_proxies == ("10.0.0.0/8", "172.16.0.1")
    assert settings.data_dir == tmp_path / "state"
    assert settings.server.workers == 3
    assert load_settings(path, environ={"ROWGATE_WORKERS": ""}).server.workers == 1  # empty: the file's


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("ROWGATE_WORKERS", "many", "server.workers (from ROWGATE_WORKERS): input should be a valid integer"),
        (
            "ROWGATE_WORKERS",
            "0",
            "server.workers (from ROWGATE_WORKERS): input should be greater than or equal to 1",
        ),
        ("ROWGATE_MODE", "staging", "mode (from ROWGATE_MODE): input should be 'dev' or 'production'"),
        (
            "ROWGATE_PUBLIC_URL",
            "auth.example.com",
            "server.public_url (from ROWGATE_PUBLIC_URL): expected an http(s) URL",
        ),
        (
            "ROWGATE_TRUSTED_PROXIES",
            "10.0.0.0/33",
            "server.trusted_proxies (from ROWGATE_TRUSTED_PROXIES): expected IP",
        ),
    ],
)
def test_a_bad_value_from_the_environment_names_its_variable(
    tmp_path: Path, variable: str, value: str, expected: str
) -> None:
    path = write(tmp_path, "server:\n  port: 1000\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={variable: value})
    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}: {expected}")


def test_rowgate_config_variable_selects_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  port: 4321\n")
    assert load_settings(environ={"ROWGATE_CONFIG": str(path)}).server.port == 4321


def test_passwords_in_database_urls_are_not_echoed(tmp_path: Path) -> None:
    (problem,) = problems(write(tmp_path, "database:\n  url: mysql://admin:hunter2@db/x\n"))
    assert "hunter2" not in problem


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("1h30m", 5400), ("30d", 2592000), ("1w", 604800), ("250ms", 0.25), (45, 45)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "abc", "15", "15 m", "1h 30m", "-5m", "m", True, -1])
def test_bad_durations(text: object) -> None:
    # "15" (a number in a string) has no unit: in YAML write 15 or 15s.
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "size"), [("64KiB", 65536), ("10MB", 10_000_000), ("1 GiB", 1024**3), (512, 512)]
)
def test_sizes(text: object, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["big", "10XB", "-1", True, -1])
def test_bad_sizes(text: object) -> None:
    with pytest.raises(ValueError, match="expected a size"):
        parse_size(text)
