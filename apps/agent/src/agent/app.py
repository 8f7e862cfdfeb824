"""Flask application factory."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask

from agent import faults, jsonlog, metrics, request_log
from agent.api import ops, sessions
from agent.config import Settings, load_settings
from agent.errors import register_error_handlers
from agent.services import Services


def create_app(config: Settings | Mapping[str, str] | None = None) -> Flask:
    """Build the app from `config`: validated `Settings`, an env-style mapping (validated
    like the environment, e.g. {"REDIS_URL": ..., "AGENT_API_KEYS": ...}), or by default
    the process environment. Raises `ConfigError` listing every bad variable."""
    settings = config if isinstance(config, Settings) else load_settings(config)
    jsonlog.configure_logging(settings.log_level)
    app = Flask("agent")
    app.config.update(MAX_CONTENT_LENGTH=settings.max_body_bytes, JSON_SORT_KEYS=False)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["agent"] = Services.build(settings)
    request_log.install(app)
    register_error_handlers(app)
    app.register_blueprint(ops.bp)
    app.register_blueprint(sessions.bp)
    faults.install(app, sessions.bp.name, settings.fault_rate)
    metrics.BUILD_INFO.labels(settings.version, settings.git_sha, settings.build_date).set(1)
    return app
