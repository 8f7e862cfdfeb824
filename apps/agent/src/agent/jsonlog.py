"""JSON log lines: the formatter of the agent's and gunicorn's loggers.

Kept apart from `agent.request_log` (which records metrics) because the gunicorn master loads
this formatter when it configures logging, and must not import prometheus_client before
`on_starting` has set PROMETHEUS_MULTIPROC_DIR: prometheus_client picks single- or
multi-process mode when it is imported, and the forked workers inherit that choice.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import time

from agent import jsoncodec


@functools.lru_cache(maxsize=8)
def _utc_second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def utc_iso(timestamp: float) -> str:
    """`timestamp` (epoch seconds) in UTC, ISO 8601 with milliseconds, e.g.
    2026-01-02T03:04:05.678Z: the timestamps of the log lines and of the stored messages. The
    date and time of a second is formatted once (a request formats three timestamps)."""
    seconds, micros = divmod(round(timestamp * 1_000_000), 1_000_000)
    return f"{_utc_second(seconds)}.{micros // 1000:03d}Z"


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
        return jsoncodec.dumps(entry)


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
