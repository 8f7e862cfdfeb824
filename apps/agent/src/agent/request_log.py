"""One JSON line per request (request_id, route, status, duration_ms) to stdout, written in
batches (`agent.linebatch`: at most AGENT_ACCESS_LOG_FLUSH_SECONDS late), and the request's
metrics.

The hooks look `request` and `g` up once (`_get_current_object()`): every attribute read
through Flask's context proxies is a context-variable lookup of its own.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable

from flask import Flask, Request, Response, g, request

from agent import jsoncodec, metrics
from agent.jsonlog import utc_iso
from agent.linebatch import LineBatcher

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
access_log = logging.getLogger("agent.access")


def route_template(req: Request) -> str:
    """The matched URL rule (e.g. /v1/sessions/<session_id>), never the raw path."""
    return req.url_rule.rule if req.url_rule is not None else metrics.UNMATCHED_ROUTE


def _start() -> None:
    state = g._get_current_object()
    state.start = time.perf_counter()
    incoming = request.environ.get("HTTP_X_REQUEST_ID", "")  # the X-Request-ID header
    if not REQUEST_ID.match(incoming):
        # A new id is for correlation (unique, not secret): `random` (reseeded in each
        # forked worker) makes one without the system call that os.urandom costs.
        incoming = f"{random.getrandbits(128):032x}"
    state.request_id = incoming


def _finisher(lines: LineBatcher) -> Callable[[Response], Response]:
    """The after-request hook: the request's metrics and its access line, in the JSON shape
    of the other log lines, without the logging machinery's per-record cost."""

    def finish(response: Response) -> Response:
        req, state = request._get_current_object(), g._get_current_object()
        elapsed = time.perf_counter() - state.get("start", time.perf_counter())
        request_id = state.get("request_id", "")
        route = route_template(req)
        response.headers["X-Request-ID"] = request_id
        metrics.observe_request(req.method, route, response.status_code, elapsed)
        if access_log.isEnabledFor(logging.INFO):
            lines.write(jsoncodec.dumps({
                "ts": utc_iso(time.time()), "level": "info", "logger": "agent.access",
                "msg": "request", "pid": metrics.process_id(), "request_id": request_id,
                "method": req.method, "route": route, "path": req.path,
                "status": response.status_code, "duration_ms": round(elapsed * 1000, 2),
                "remote_addr": req.remote_addr,
            }) + "\n")
        return response

    return finish


def install(app: Flask, flush_seconds: float) -> None:
    """Log and measure every request of `app`; access lines wait at most `flush_seconds`."""
    app.before_request(_start)
    app.after_request(_finisher(LineBatcher(flush_seconds)))
