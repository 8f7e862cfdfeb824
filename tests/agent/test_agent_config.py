"""Configuration comes only from the environment and is validated at start-up."""

from __future__ import annotations

import subprocess
import sys

import pytest
from agent.app import create_app
from agent.config import ConfigError, load_server_settings, load_settings
from support.agent import GUNICORN_ARGS, agent_environment
from support.processes import REPO_ROOT, free_port

BASE = {"REDIS_URL": "redis://127.0.0.1:6379/0", "AGENT_API_KEYS": "key-aaaaaaaa"}


def problems(env: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    return caught.value.render()


def test_defaults() -> None:
    settings = load_settings(BASE)
    assert settings.port == 8000 and settings.backend == "builtin"
    assert settings.api_keys == ("key-aaaaaaaa",)
    assert settings.fault_rate == 0.0
    assert settings.access_log_flush_seconds == 0.2
    assert "key-aaaaaaaa" not in repr(settings)  # secrets stay out of logs


def test_builtin_backend_ignores_the_openai_key_file() -> None:
    settings = load_settings({**BASE, "AGENT_OPENAI_API_KEY_FILE": "/not/mounted"})
    assert settings.backend == "builtin" and settings.openai.api_key == ""
    text = problems({**BASE, "AGENT_BACKEND": "openai",
                     "AGENT_OPENAI_API_KEY_FILE": "/not/mounted"})
    assert "AGENT_OPENAI_API_KEY_FILE='/not/mounted' cannot be read" in text


def test_keys_from_file_with_comments(tmp_path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("# rotated 2026-01\nfirst-key-111\nsecond-key-22, third-key-333\n")
    settings = load_settings({"AGENT_API_KEYS_FILE": str(keys)})
    assert settings.api_keys == ("first-key-111", "second-key-22", "third-key-333")


@pytest.mark.parametrize("env, expected", [
    ({"PORT": "eighty"}, "PORT='eighty' is not an integer"),
    ({"PORT": "70000"}, "PORT='70000' is out of range"),
    ({"AGENT_BACKEND": "gpt"}, "AGENT_BACKEND='gpt' is not one of builtin, openai"),
    ({"AGENT_FAULT_RATE": "1.5"}, "AGENT_FAULT_RATE='1.5' is out of range"),
    ({"AGENT_FAULT_RATE": "nan"}, "AGENT_FAULT_RATE='nan' is not a number"),
    ({"AGENT_ACCESS_LOG_FLUSH_SECONDS": "-1"},
     "AGENT_ACCESS_LOG_FLUSH_SECONDS='-1' is out of range; expected 0..10 seconds"),
    ({"AGENT_RATE_LIMIT": "lots"}, "AGENT_RATE_LIMIT='lots' is not a rate limit"),
    ({"REDIS_URL": "http://x"}, "REDIS_URL='http://x' must start with redis://"),
    ({"REDIS_URL": "redis://:s3cret@h:port/0"},
     "REDIS_URL='redis://:***@h:port/0' is not a valid Redis URL"),
    ({"REDIS_URL": "redis://h:99999/0"}, "Port out of range"),
    ({"AGENT_API_KEYS": ""}, "AGENT_API_KEYS (comma separated) or AGENT_API_KEYS_FILE"),
    ({"AGENT_API_KEYS": "short"}, "shorter than 8 characters"),
    ({"AGENT_API_KEYS": "", "AGENT_API_KEYS_FILE": "/nonexistent/keys"}, "cannot be read"),
    ({"AGENT_API_KEYS_FILE": "/etc/hostname"}, "are both set; set only one"),
    ({"AGENT_BACKEND": "openai"}, "AGENT_BACKEND=openai needs AGENT_OPENAI_API_KEY"),
    ({"AGENT_BACKEND": "openai", "AGENT_OPENAI_API_KEY": "k", "AGENT_OPENAI_BASE_URL": "ftp://x"},
     "AGENT_OPENAI_BASE_URL='ftp://x' must be an http(s) URL"),
    ({"LOG_LEVEL": "loud"}, "LOG_LEVEL='loud' is not one of"),
    ({"AGENT_API_KEYS_CHECK_SECONDS": "0"}, "AGENT_API_KEYS_CHECK_SECONDS='0' is out of range"),
])
def test_bad_values_are_named_with_the_fix(env: dict[str, str], expected: str) -> None:
    assert expected in problems({**BASE, **env})


def test_every_problem_is_reported_at_once() -> None:
    text = problems({**BASE, "PORT": "x", "AGENT_BACKEND": "nope",
                     "AGENT_HISTORY_MAX_MESSAGES": "1"})
    assert text.count("\n  - ") == 3


@pytest.mark.parametrize("env, expected", [
    ({"AGENT_BACKEND": "nope"}, "AGENT_BACKEND='nope' is not one of builtin, openai"),
    ({"GUNICORN_WORKERS": "many"}, "GUNICORN_WORKERS='many' is not an integer"),
    ({"LOG_LEVEL": "loud"}, "LOG_LEVEL='loud' is not one of DEBUG, INFO, WARNING, ERROR"),
    ({"AGENT_API_KEYS": ""}, "AGENT_API_KEYS (comma separated) or AGENT_API_KEYS_FILE"),
    ({"AGENT_DRAIN_SECONDS": "30", "GUNICORN_GRACEFUL_TIMEOUT": "10"},
     "AGENT_DRAIN_SECONDS=30 must be shorter than GUNICORN_GRACEFUL_TIMEOUT=10"),
    ({"PROMETHEUS_MULTIPROC_DIR": "/proc/agent-metrics"}, "is not a writable directory"),
])
def test_gunicorn_refuses_to_start_with_a_clear_message(tmp_path, env: dict[str, str],
                                                        expected: str) -> None:
    full = agent_environment("redis://127.0.0.1:1/0", 1, tmp_path, free_port(), env)
    result = subprocess.run([sys.executable, *GUNICORN_ARGS], env=full, cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_server_settings_come_from_the_same_loader() -> None:
    server = load_server_settings({"GUNICORN_WORKERS": "3", "AGENT_DRAIN_SECONDS": "2.5",
                                   "LOG_LEVEL": "debug", "GUNICORN_ACCESS_LOG": "1"})
    assert (server.workers, server.drain_seconds, server.log_level, server.access_log) == (
        3, 2.5, "DEBUG", True)
    with pytest.raises(ConfigError) as caught:
        load_server_settings({"GUNICORN_THREADS": "0", "AGENT_DRAIN_SECONDS": "30",
                              "GUNICORN_GRACEFUL_TIMEOUT": "10"})
    assert caught.value.render().count("\n  - ") == 2


def test_fault_injection_is_installed_only_when_enabled(redis) -> None:
    env = {"REDIS_URL": redis.url, "AGENT_API_KEYS": "key-aaaaaaaa"}
    quiet = create_app(env)
    assert not any(f.__name__ == "inject_fault" for f in quiet.before_request_funcs["v1"])
    assert quiet.test_client().post("/v1/sessions").status_code == 401
    faulty = create_app({**env, "AGENT_FAULT_RATE": "1"})
    response = faulty.test_client().post("/v1/sessions")   # before authentication, too
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "injected_fault"
