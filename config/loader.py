"""Read a YAML settings file into the typed model, or fail with every problem named.

The steps are plain functions: ``yaml.safe_load`` → ``interpolate`` (``${VAR}``,
``${VAR:-default}``, ``$$`` for a literal dollar) → ``apply_overrides`` (environment
values from ``ENV_OVERRIDES`` and command-line values, which win over any file; a bad
value from the environment is reported with its variable's name) → pydantic validation →
cross-field checks.  Every problem becomes one line
``<file>: <key.path>: <what was expected>, got <what was there>`` and all of them
are raised together as one ``ConfigError``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rowgate.config.schema import Settings, cross_field_problems
from rowgate.errors import ConfigError
from rowgate.yamlfile import read_yaml

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")

DEFAULT_CONFIG = Path(__file__).with_name("rowgate.yaml")

#: Environment variables that override one key of the file each.
ENV_OVERRIDES: Mapping[str, str] = {
    "ROWGATE_DATABASE_URL": "database.url",
    "ROWGATE_REDIS_URL": "redis.url",
    "ROWGATE_POLICIES": "policies",
    "ROWGATE_MODE": "mode",
    "ROWGATE_PUBLIC_URL": "server.public_url",
    "ROWGATE_TRUSTED_PROXIES": "server.trusted_proxies",
    "ROWGATE_DATA_DIR": "data_dir",
    "ROWGATE_WORKERS": "server.workers",
}


def load_settings(
    path: str | os.PathLike[str] | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Load settings from ``path`` (``ROWGATE_CONFIG``, else the bundled default).

    ``overrides`` maps dotted key paths to values (from command-line flags); they win over
    the environment overrides, which win over the file.
    """
    env = os.environ if environ is None else environ
    file = Path(path or env.get("ROWGATE_CONFIG") or DEFAULT_CONFIG)
    raw = read_yaml(file, missing="pass --config PATH or set ROWGATE_CONFIG")
    problems: list[str] = []
    data = interpolate(raw, env, file, (), problems)
    env_values = {key: env[var] for var, key in ENV_OVERRIDES.items() if env.get(var)}
    data = apply_overrides(data, {**env_values, **(overrides or {})})
    if problems:
        raise ConfigError(problems)
    try:
        settings = Settings.model_validate(data, context={"base_dir": file.parent})
    except ValidationError as exc:
        sources = {key: var for var, key in ENV_OVERRIDES.items() if key in env_values}
        sources = {key: var for key, var in sources.items() if key not in (overrides or {})}
        lines = [_name_source(line, sources) for line in describe_validation_errors(exc)]
        raise ConfigError([f"{file}: {line}" for line in lines]) from None
    settings = settings.resolved(file.parent)
    problems = [f"{file}: {line}" for line in cross_field_problems(settings)]
    if problems:
        raise ConfigError(problems)
    return settings


def interpolate(
    value: Any, env: Mapping[str, str], file: Path, path: tuple[str | int, ...], problems: list[str]
) -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string of ``value``."""
    if isinstance(value, dict):
        return {k: interpolate(v, env, file, (*path, k), problems) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, file, (*path, i), problems) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        found = env.get(name)
        if found is not None and (found != "" or default is None):
            return found
        if default is not None:
            return default
        problems.append(
            f"{file}: {dotted(path)}: environment variable {name} is not set "
            f"(set it, or write ${{{name}:-default}} to give a default)"
        )
        return ""

    return _VAR.sub(substitute, value)


def apply_overrides(data: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Set each dotted key of ``overrides`` in a copy of ``data``."""
    result: dict[str, Any] = _deep_copy(data)
    for key, value in overrides.items():
        node = result
        *parents, leaf = key.split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[leaf] = value
    return result


def _name_source(line: str, sources: Mapping[str, str]) -> str:
    """``server.workers: ...`` → ``server.workers (from ROWGATE_WORKERS): ...`` for a value that
    came from the environment, so that the message names what to fix."""
    key, sep, rest = line.partition(": ")
    var = sources.get(key)
    return f"{key} (from {var}){sep}{rest}" if var else line


def describe_validation_errors(exc: ValidationError) -> list[str]:
    """One ``key.path: expected ..., got ...`` line per pydantic error."""
    lines = []
    for error in exc.errors(include_url=False):
        loc = dotted(tuple(p for p in error["loc"] if not _is_union_tag(p)))
        kind, message = error["type"], error["msg"]
        if kind == "extra_forbidden":
            lines.append(f"{loc}: unknown key (check the spelling; see the configuration reference)")
            continue
        if kind == "missing":
            lines.append(f"{loc}: required key is missing")
            continue
        message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if kind == "value_error" or "got " in message:
            lines.append(f"{loc}: {message}")
        else:
            lines.append(f"{loc}: {message[:1].lower()}{message[1:]}, got {_shown(error.get('input'))}")
    return lines


def dotted(path: tuple[Any, ...]) -> str:
    """``("routes", "rules", 2, "level")`` → ``routes.rules[2].level``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _is_union_tag(part: object) -> bool:
    # pydantic adds the member type of a union or a function validator to ``loc``.
    return isinstance(part, str) and (part.startswith("function-") or "[" in part)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value
