"""An unexpected exception becomes a JSON 500 with a request id; the traceback only goes
to the log. In-process app from the real factory, with one extra route that fails."""

from __future__ import annotations

import logging

import pytest
from agent.app import create_app
from agent.config import ConfigError, load_settings


def test_unhandled_exception_is_a_json_500_without_traceback(caplog) -> None:
    app = create_app({"REDIS_URL": "redis://127.0.0.1:1/0", "AGENT_API_KEYS": "key-aaaaaaaa"})

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret internal detail")

    logging.getLogger("agent").propagate = True
    with caplog.at_level(logging.ERROR, logger="agent"):
        response = app.test_client().get("/boom", headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500
    assert response.get_json() == {"error": {
        "code": "internal_error", "request_id": "req-500",
        "message": "internal error; quote the request_id when reporting it"}}
    assert b"secret internal detail" not in response.data
    assert any("secret internal detail" in (r.exc_text or str(r.exc_info)) for r in caplog.records)


def test_factory_takes_settings_or_an_env_mapping() -> None:
    settings = load_settings({"REDIS_URL": "redis://127.0.0.1:1/0", "AGENT_API_KEYS": "k" * 8})
    assert create_app(settings).extensions["agent"].settings is settings
    with pytest.raises(ConfigError, match=r"PORT='-1' is out of range"):
        create_app({"AGENT_API_KEYS": "k" * 8, "PORT": "-1"})
