"""Settings for rowgate: the typed model, YAML loading with environment interpolation, and the
error hierarchy every package shares."""

from __future__ import annotations

from rowgate.config.loader import DEFAULT_CONFIG, load_settings
from rowgate.config.schema import Settings

__all__ = ["DEFAULT_CONFIG", "Settings", "load_settings"]
