"""gunicorn configuration: `gunicorn -c python:agent.gunicorn_config agent.wsgi:app`.

Workers/threads/graceful timeout come from the environment, validated before the master
starts; the multiprocess metrics directory is prepared here and dead workers' metric files
are cleaned up in `child_exit`.
"""

from __future__ import annotations

import glob
import os
import sys
import tempfile
from typing import Any

from agent.config import ConfigError, load_settings


def _fail(message: str) -> None:
    print(f"agent: invalid configuration (fix these environment variables):\n  - {message}",
          file=sys.stderr)
    raise SystemExit(2)


def _env_number(name: str, default: float, low: float, high: float, kind: type = int) -> Any:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return kind(default)
    try:
        value = kind(raw)
    except ValueError:
        _fail(f"{name}={raw!r} is not {'an integer' if kind is int else 'a number'}; "
              f"expected {low}..{high}")
    if not low <= value <= high:
        _fail(f"{name}={raw!r} is out of range; expected {low}..{high}")
    return value


def _metrics_dir() -> str:
    """PROMETHEUS_MULTIPROC_DIR (created if needed), or a fresh temp dir when unset."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    if not path:
        path = tempfile.mkdtemp(prefix="agent-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    try:
        os.makedirs(path, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path)  # noqa: SIM115 - writability probe
        probe.close()
    except OSError as exc:
        _fail(f"PROMETHEUS_MULTIPROC_DIR={path!r} is not a writable directory ({exc.strerror})")
    return path


_port = _env_number("PORT", 8000, 1, 65535)
_host = os.environ.get("HOST", "0.0.0.0").strip() or "0.0.0.0"
_metrics_path = _metrics_dir()
_graceful = _env_number("GUNICORN_GRACEFUL_TIMEOUT", 25, 1, 3600)
_drain = _env_number("AGENT_DRAIN_SECONDS", 0, 0, 3600, float)
if _drain >= _graceful:
    _fail(f"AGENT_DRAIN_SECONDS={_drain:g} must be shorter than "
          f"GUNICORN_GRACEFUL_TIMEOUT={_graceful:g}")

bind = [f"[{_host}]:{_port}" if ":" in _host else f"{_host}:{_port}"]
workers = _env_number("GUNICORN_WORKERS", 2, 1, 64)
threads = _env_number("GUNICORN_THREADS", 4, 1, 256)
worker_class = "agent.worker.DrainingThreadWorker"
timeout = _env_number("GUNICORN_TIMEOUT", 60, 1, 3600)
graceful_timeout = _graceful
keepalive = _env_number("GUNICORN_KEEPALIVE", 5, 0, 600)
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
max_requests = _env_number("GUNICORN_MAX_REQUESTS", 0, 0, 10**9)
max_requests_jitter = max_requests // 10 if max_requests else 0
limit_request_line = 8190
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
proc_name = "agent"
# The app logs one JSON line per request (with the route template); gunicorn's own access
# log is off unless GUNICORN_ACCESS_LOG=1, and then it is JSON too (JsonAccessLogger).
accesslog = "-" if os.environ.get("GUNICORN_ACCESS_LOG", "0") == "1" else None
logger_class = "agent.gunicorn_logging.JsonAccessLogger"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").strip().lower() or "info"
if loglevel not in ("debug", "info", "warning", "error"):
    _fail(f"LOG_LEVEL={os.environ['LOG_LEVEL']!r} is not one of DEBUG, INFO, WARNING, ERROR")
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "agent.request_log.JsonFormatter"}},
    "handlers": {
        "error": {"class": "logging.StreamHandler", "formatter": "json",
                  "stream": "ext://sys.stderr"},
        "access": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout"},
    },
    "root": {"level": "WARNING", "handlers": ["error"]},
    "loggers": {
        "gunicorn.error": {"handlers": ["error"], "level": loglevel.upper(), "propagate": False},
        "gunicorn.access": {"handlers": ["access"], "propagate": False,
                            "level": "INFO" if accesslog else "WARNING"},
    },
}


def on_starting(server: Any) -> None:
    """Validate the app configuration before forking, and clear stale metric files."""
    try:
        load_settings()
    except ConfigError as error:
        print(error.render(), file=sys.stderr)
        raise SystemExit(2) from None
    for stale in glob.glob(os.path.join(_metrics_path, "*.db")):
        os.remove(stale)


def child_exit(server: Any, worker: Any) -> None:
    """Drop the dead worker's live gauges from the multiprocess metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, _metrics_path)
