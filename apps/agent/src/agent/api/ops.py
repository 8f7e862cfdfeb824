"""Operational endpoints, no auth: /healthz, /readyz, /metrics, /version."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, g, jsonify
from redis.exceptions import RedisError

from agent import metrics
from agent.lifecycle import is_draining
from agent.services import services

bp = Blueprint("ops", __name__)
_HEALTHY = b'{"status":"ok"}\n'
log = logging.getLogger("agent.ops")


@bp.get("/healthz")
def healthz() -> Response:
    """Liveness: the process answers HTTP. Never touches Redis."""
    return Response(_HEALTHY, content_type="application/json")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Readiness: Redis answers PING within the short timeout, and we are not draining."""
    checks: dict[str, str] = {"draining": "ok"}
    if is_draining():
        checks["draining"] = "failed: shutting down (SIGTERM received)"
    try:
        services().probe_redis.ping()
        checks["redis"] = "ok"
    except RedisError as exc:
        checks["redis"] = f"failed: {type(exc).__name__}: {exc}"
    failing = [name for name, state in checks.items() if state != "ok"]
    if not failing:
        return jsonify({"status": "ready", "checks": checks}), 200
    body = {"status": "not_ready", "checks": checks, "error": {
        "code": "not_ready", "message": f"failing checks: {', '.join(failing)}",
        "request_id": g.get("request_id", "")}}
    return jsonify(body), 503


@bp.get("/metrics")
def prometheus_metrics() -> Response:
    """Prometheus exposition of all workers; refreshes the live-session gauge first."""
    svc = services()
    try:
        metrics.SESSIONS_ACTIVE.set(svc.sessions.count_active())
    except RedisError as exc:
        log.warning("cannot count sessions for metrics: %s", exc)
    body, content_type = metrics.render(svc.settings.metrics_dir)
    return Response(body, content_type=content_type)


@bp.get("/version")
def version() -> Response:
    settings = services().settings
    return jsonify({"version": settings.version, "git_sha": settings.git_sha,
                    "build_date": settings.build_date, "backend": settings.backend})
