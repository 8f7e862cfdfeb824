"""One JSON error shape for every failure: {"error": {"code", "message", "request_id"}}."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, jsonify
from redis.exceptions import RedisError
from werkzeug.exceptions import HTTPException

log = logging.getLogger("agent.errors")

_HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type",
    422: "validation_failed", 429: "rate_limited", 431: "headers_too_large",
    500: "internal_error", 502: "upstream_error", 503: "unavailable", 504: "upstream_timeout",
}


class ApiError(Exception):
    """An error answered to the client as-is (status, stable code, human message)."""

    def __init__(self, status: int, code: str, message: str, *,
                 details: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = details or {}
        self.headers = headers or {}


def error_response(status: int, code: str, message: str, *,
                   details: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> Response:
    body: dict[str, Any] = {"code": code, "message": message,
                            "request_id": g.get("request_id", "")}
    body.update(details or {})
    response = jsonify({"error": body})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.code, exc.message, details=exc.details,
                          headers=exc.headers)


def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    headers = {}
    if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
        headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
    messages = {
        404: "no such endpoint; see the API in README.md (/v1/sessions, /healthz, /readyz, "
             "/metrics, /version)",
        405: f"method not allowed here; allowed: {headers.get('Allow', 'none')}",
        413: "request body is larger than the configured limit (AGENT_MAX_BODY_BYTES)",
    }
    message = messages.get(status, exc.description or exc.name)
    return error_response(status, _HTTP_CODES.get(status, "http_error"), message, headers=headers)


def _redis_error(exc: RedisError) -> Response:
    log.warning("redis unavailable: %s", exc)
    return error_response(503, "redis_unavailable",
                          "the session store (Redis) is unavailable; retry shortly",
                          headers={"Retry-After": "1"})


def _unexpected(exc: Exception) -> Response:
    log.exception("unhandled error")
    return error_response(500, "internal_error",
                          "internal error; quote the request_id when reporting it")


def register_error_handlers(app: Flask) -> None:
    """Route every exception to the JSON error shape; no traceback ever reaches a client."""
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(RedisError, _redis_error)
    app.register_error_handler(Exception, _unexpected)
