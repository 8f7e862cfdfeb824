"""Flask application factory."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response
from flask.json.provider import JSONProvider

from agent import faults, jsoncodec, jsonlog, metrics, request_log
from agent.api import ops, sessions
from agent.config import Settings, load_settings
from agent.errors import register_error_handlers
from agent.services import Services


class OrjsonProvider(JSONProvider):
    """`jsonify` through `agent.jsoncodec` (orjson): the compact body and final newline of
    Flask's default provider outside debug mode, keys unsorted, non-ASCII unescaped."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return jsoncodec.dumps(obj)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return json.loads(s, **kwargs)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        body = jsoncodec.dumps_bytes(self._prepare_response_obj(args, kwargs), newline=True)
        return self._app.response_class(body, mimetype="application/json")


def create_app(config: Settings | Mapping[str, str] | None = None) -> Flask:
    """Build the app from `config`: validated `Settings`, an env-style mapping (validated
    like the environment, e.g. {"REDIS_URL": ..., "AGENT_API_KEYS": ...}), or by default
    the process environment. Raises `ConfigError` listing every bad variable."""
    settings = config if isinstance(config, Settings) else load_settings(config)
    jsonlog.configure_logging(settings.log_level)
    app = Flask("agent")
    app.config.update(MAX_CONTENT_LENGTH=settings.max_body_bytes)
    app.json = OrjsonProvider(app)
    app.extensions["agent"] = Services.build(settings)
    request_log.install(app, settings.access_log_flush_seconds)
    register_error_handlers(app)
    app.register_blueprint(ops.bp)
    app.register_blueprint(sessions.bp)
    faults.install(app, sessions.bp.name, settings.fault_rate)
    metrics.BUILD_INFO.labels(settings.version, settings.git_sha, settings.build_date).set(1)
    return app
