"""gunicorn configuration: `gunicorn -c python:agent.gunicorn_config agent.wsgi:app`.

Every setting comes from `agent.config` (`load_server_settings`, validated before the master
starts; the app's own settings are validated in `on_starting`, before any fork). The
multiprocess metrics directory: PROMETHEUS_MULTIPROC_DIR when set (checked writable here,
stale files cleared in `on_starting`); when unset, the master makes a temporary one in
`on_starting` (so merely importing this module creates nothing) and removes it in `on_exit`.
Dead workers' live gauges are dropped in `child_exit`.
"""

from __future__ import annotations

import glob
import os
import shutil
import sys
import tempfile
from typing import Any

from agent.config import ConfigError, load_server_settings, load_settings


def _fail(error: ConfigError) -> None:
    print(error.render(), file=sys.stderr)
    raise SystemExit(2)


def _check_metrics_dir(path: str) -> None:
    """Create `path` if needed; exit with a clear message unless it is a writable directory."""
    try:
        os.makedirs(path, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path)  # noqa: SIM115 - writability probe
        probe.close()
    except OSError as exc:
        _fail(ConfigError([f"PROMETHEUS_MULTIPROC_DIR={path!r} is not a writable directory "
                           f"({exc.strerror})"]))


try:
    _server = load_server_settings()
except ConfigError as _error:
    _fail(_error)
if _server.metrics_dir:
    _check_metrics_dir(_server.metrics_dir)
_metrics_path = _server.metrics_dir or ""
_own_metrics_path = ""  # the temporary directory this master made (removed on exit)
_mark_process_dead: Any = None  # prometheus_client.multiprocess.mark_process_dead, bound once

bind = [f"[{_server.host}]:{_server.port}" if ":" in _server.host
        else f"{_server.host}:{_server.port}"]
workers = _server.workers
threads = _server.threads
worker_class = "agent.worker.DrainingThreadWorker"
timeout = _server.timeout
graceful_timeout = _server.graceful_timeout
keepalive = _server.keepalive
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
max_requests = _server.max_requests
max_requests_jitter = max_requests // 10 if max_requests else 0
limit_request_line = 8190
forwarded_allow_ips = _server.forwarded_allow_ips
proc_name = "agent"
# The app logs one JSON line per request (with the route template); gunicorn's own access
# log is off unless GUNICORN_ACCESS_LOG=1, and then it is JSON too (JsonAccessLogger).
accesslog = "-" if _server.access_log else None
logger_class = "agent.gunicorn_logging.JsonAccessLogger"
errorlog = "-"
loglevel = _server.log_level.lower()
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "agent.jsonlog.JsonFormatter"}},
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
    """Validate the app configuration before forking; prepare the metrics directory (the
    workers inherit it through the environment, where prometheus_client looks for it)."""
    global _metrics_path, _own_metrics_path, _mark_process_dead
    try:
        load_settings()
    except ConfigError as error:
        _fail(error)
    if not _metrics_path:
        if "prometheus_client" in sys.modules:  # it has chosen single-process mode already
            _fail(ConfigError(["PROMETHEUS_MULTIPROC_DIR is unset and prometheus_client was "
                               "loaded before a temporary one could be made; set it"]))
        _metrics_path = _own_metrics_path = tempfile.mkdtemp(prefix="agent-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_path
    for stale in glob.glob(os.path.join(_metrics_path, "*.db")):
        os.remove(stale)
    # Imported here, once the directory is set and before any worker exists: child_exit runs
    # in the master's SIGCHLD handler, where a first import could be interrupted by the next
    # worker's exit and re-entered half-initialised (the master then died with exit 1).
    from prometheus_client.multiprocess import mark_process_dead

    _mark_process_dead = mark_process_dead


def on_exit(server: Any) -> None:
    """Remove the temporary metrics directory this master made, if any."""
    if _own_metrics_path:
        shutil.rmtree(_own_metrics_path, ignore_errors=True)


def child_exit(server: Any, worker: Any) -> None:
    """Drop the dead worker's live gauges from the multiprocess metrics (runs in the master's
    SIGCHLD handler: it only calls the function on_starting bound, no import statement)."""
    _mark_process_dead(worker.pid, _metrics_path)
