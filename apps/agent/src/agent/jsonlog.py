"""JSON log lines: the formatter of the agent's and gunicorn's loggers.

Kept apart from `agent.request_log` (which records metrics) because the gunicorn master loads
this formatter when it configures logging, and must not import prometheus_client before
`on_starting` has set PROMETHEUS_MULTIPROC_DIR: prometheus_client picks single- or
multi-process mode when it is imported, and the forked workers inherit that choice.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime


def utc_iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object; `extra={"fields": {...}}` adds fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": utc_iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": os.getpid(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str) -> None:
    """Send the `agent` loggers to stdout as JSON lines (idempotent)."""
    logger = logging.getLogger("agent")
    logger.setLevel(level)
    logger.propagate = False
    if not any(getattr(h, "_agent_json", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        handler._agent_json = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
