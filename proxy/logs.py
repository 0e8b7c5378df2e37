"""Logging: one JSON object per line (or plain text), with the request id bound per request.

Secrets never reach the logs: handlers log ids and outcomes, never tokens, passwords, keys or
codes; the access log records the path without its query string (which may carry tokens).
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from typing import Any

from rowgate.config.schema import LoggingSettings

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """``{"ts":..., "level":..., "logger":..., "msg":..., "request_id":..., **extra}``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, separators=(",", ":"))


def configure_logging(settings: LoggingSettings, worker: int | None = None) -> None:
    """Send rowgate's logs to stderr in the configured format and level; a worker process
    (``proxy.workers``) tags each line with its index (``"worker": 1``)."""
    handler = logging.StreamHandler(sys.stderr)
    tag = ""
    if worker is not None:
        handler.addFilter(_WorkerTag(worker))
        tag = " [worker %(worker)s]"
    if settings.format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s %(name)s{tag}: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level.upper())
    # aiohttp's own access log is replaced by rowgate's (see proxy.middlewares).
    logging.getLogger("aiohttp.access").disabled = True
    # The embedded database's launcher narrates every command it runs; keep its warnings only.
    logging.getLogger("pgserver").setLevel(logging.WARNING)


class _WorkerTag(logging.Filter):
    """Adds ``worker`` (the worker's index) to every record of a worker process."""

    def __init__(self, worker: int) -> None:
        super().__init__()
        self.worker = worker

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker = self.worker
        return True
