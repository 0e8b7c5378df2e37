"""A YAML mapping read from a file, for the configuration and the policy file alike.

Every failure is a ``ConfigError`` naming the file.  PyYAML is imported only when a file is
read, so the RLS engine runs on a mapping with nothing but sqlglot installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rowgate.errors import ConfigError


def read_yaml(file: Path, *, missing: str) -> dict[str, Any]:
    """Read a YAML mapping from ``file``; a missing file, bad YAML or a non-mapping is a ConfigError.

    ``missing`` says how to name another file (the flag or key that chose this one): a missing
    file's message ends with it.
    """
    return parse_yaml(file, read_text(file, missing=missing))


def read_text(file: Path, *, missing: str) -> str:
    """The text of ``file``; a missing or unreadable file is a ConfigError (see ``read_yaml``)."""
    try:
        return file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{file}: file not found ({missing})"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{file}: cannot read the file: {exc}"]) from None


def parse_yaml(file: Path, text: str) -> dict[str, Any]:
    """The YAML mapping in ``text``, read from ``file``; bad YAML or a non-mapping is a ConfigError."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError([f"{file}: invalid YAML{where}: {problem}"]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            [f"{file}: expected a mapping of settings at the top level, got {type(data).__name__}"]
        )
    return data
