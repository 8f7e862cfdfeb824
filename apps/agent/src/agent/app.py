"""Flask application factory."""

from __future__ import annotations

from flask import Flask

from agent import metrics, request_log
from agent.api import ops, sessions
from agent.config import Settings, load_settings
from agent.errors import register_error_handlers
from agent.services import Services


def create_app(config: Settings | None = None) -> Flask:
    """Build the app from `config` (default: validated from the environment)."""
    settings = config or load_settings()
    request_log.configure_logging(settings.log_level)
    app = Flask("agent")
    app.config.update(MAX_CONTENT_LENGTH=settings.max_body_bytes, JSON_SORT_KEYS=False)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["agent"] = Services.build(settings)
    request_log.install(app)
    register_error_handlers(app)
    app.register_blueprint(ops.bp)
    app.register_blueprint(sessions.bp)
    metrics.BUILD_INFO.labels(settings.version, settings.git_sha, settings.build_date).set(1)
    return app
