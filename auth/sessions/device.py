"""A readable device label from a User-Agent header (pure code): ``Firefox on Linux``.

Only for people looking at their session list; nothing is decided from it.  Unknown agents are
labelled with their first product token, or ``Unknown device``.
"""

from __future__ import annotations

import re

# Order matters: Edge and Opera also say Chrome; Chrome also says Safari.
_BROWSERS = (
    ("Edge", re.compile(r"\bEdg(?:e|A|iOS)?/")),
    ("Opera", re.compile(r"\bOPR/|\bOpera\b")),
    ("Samsung Internet", re.compile(r"\bSamsungBrowser/")),
    ("Firefox", re.compile(r"\b(?:Firefox|FxiOS)/")),
    ("Chrome", re.compile(r"\b(?:Chrome|CriOS)/")),
    ("Safari", re.compile(r"\bVersion/[\d.]+.*\bSafari/")),
)
_SYSTEMS = (
    ("iPhone", re.compile(r"\biPhone\b")),
    ("iPad", re.compile(r"\biPad\b")),
    ("Android", re.compile(r"\bAndroid\b")),
    ("Windows", re.compile(r"\bWindows\b")),
    ("ChromeOS", re.compile(r"\bCrOS\b")),
    ("macOS", re.compile(r"\bMac OS X\b|\bMacintosh\b")),
    ("Linux", re.compile(r"\bLinux\b")),
)
_PRODUCT = re.compile(r"^([A-Za-z][A-Za-z0-9._-]{0,39})(?:/([0-9][0-9A-Za-z.]{0,15}))?")
MAX_LABEL = 80


def device_label(user_agent: str | None) -> str:
    """``<browser> on <system>``, or the agent's product name, or ``Unknown device``."""
    agent = (user_agent or "").strip()
    browser = next((name for name, pattern in _BROWSERS if pattern.search(agent)), None)
    system = next((name for name, pattern in _SYSTEMS if pattern.search(agent)), None)
    if browser and system:
        return f"{browser} on {system}"
    if browser or system:
        return str(browser or system)
    match = _PRODUCT.match(agent)
    if match and match.group(1) != "Mozilla":
        return (match.group(1) + (f" {match.group(2)}" if match.group(2) else ""))[:MAX_LABEL]
    return "Unknown device"
