"""One JSON line per request (request_id, route, status, duration_ms) to stdout, and the
request's metrics."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time

from flask import Flask, Response, g, request

from agent import metrics
from agent.jsonlog import utc_iso

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
access_log = logging.getLogger("agent.access")
_write_lock = threading.Lock()


def route_template() -> str:
    """The matched URL rule (e.g. /v1/sessions/<session_id>), never the raw path."""
    rule = request.url_rule
    return rule.rule if rule is not None else metrics.UNMATCHED_ROUTE


def _start() -> None:
    g.start = time.perf_counter()
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if REQUEST_ID.match(incoming) else os.urandom(16).hex()


def _finish(response: Response) -> Response:
    elapsed = time.perf_counter() - g.get("start", time.perf_counter())
    route = route_template()
    response.headers["X-Request-ID"] = g.get("request_id", "")
    metrics.observe_request(request.method, route, response.status_code, elapsed)
    if access_log.isEnabledFor(logging.INFO):
        _write_access_line({
            "ts": utc_iso(time.time()), "level": "info", "logger": "agent.access",
            "msg": "request", "pid": os.getpid(), "request_id": g.get("request_id", ""),
            "method": request.method, "route": route, "path": request.path,
            "status": response.status_code, "duration_ms": round(elapsed * 1000, 2),
            "remote_addr": request.remote_addr,
        })
    return response


def _write_access_line(entry: dict[str, object]) -> None:
    """The per-request line, written straight to stdout: the same JSON shape as the other
    log lines, without the logging machinery's per-record cost on the hot path."""
    line = json.dumps(entry, ensure_ascii=False, default=str) + "\n"
    with _write_lock:
        sys.stdout.write(line)
        sys.stdout.flush()


def install(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)
