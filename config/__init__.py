"""Settings for rowgate: the typed model and YAML loading with environment interpolation."""

from __future__ import annotations

from rowgate.config.loader import DEFAULT_CONFIG, load_settings
from rowgate.config.schema import Settings

__all__ = ["DEFAULT_CONFIG", "Settings", "load_settings"]
