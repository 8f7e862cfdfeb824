"""Start the real agent service (gunicorn, several workers) as a subprocess for tests.

Stable interface (other suites rely on it; extend only with new keyword arguments):

    from support.agent import agent_server

    with agent_server(redis.url, workers=2, env={"AGENT_FAULT_RATE": "0.5"}) as agent:
        agent.base_url      # "http://127.0.0.1:<port>"
        agent.port          # the free loopback port gunicorn listens on
        agent.process       # ManagedProcess (gunicorn master, own process group)
        agent.api_key       # first key of AGENT_API_KEYS (default "test-key-0001")
        agent.metrics_dir   # its own temporary PROMETHEUS_MULTIPROC_DIR
        agent.url("/v1/sessions"), agent.headers(), agent.output()
        agent.post("/v1/sessions", headers=agent.headers())   # -> Reply (like InProcessAgent)

`env` is merged over a minimal environment (PATH, HOME, ...), so AGENT_API_KEYS,
AGENT_FAULT_RATE, AGENT_BACKEND, AGENT_RATE_LIMIT, ... can be set per test (an empty value
counts as unset, e.g. {"AGENT_API_KEYS": "", "AGENT_API_KEYS_FILE": path}). The context
manager waits for /healthz (not /readyz: Redis may be down on purpose), and on exit stops
gunicorn with SIGTERM (SIGKILL after `stop_timeout`) and removes the metrics dir.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support.processes import REPO_ROOT, ManagedProcess, free_port, wait_for_http, wait_for_port

DEFAULT_API_KEY = "test-key-0001"
GUNICORN_ARGS = ["-m", "gunicorn", "-c", "python:agent.gunicorn_config", "agent.wsgi:app"]
_PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")


@dataclass
class AgentServer:
    """A running gunicorn agent on 127.0.0.1."""

    port: int
    process: ManagedProcess
    metrics_dir: Path
    env: dict[str, str] = field(repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_key(self) -> str:
        return self.env.get("AGENT_API_KEYS", DEFAULT_API_KEY).split(",")[0].strip()

    def url(self, path: str) -> str:
        return self.base_url + path

    def headers(self, key: str | None = None) -> dict[str, str]:
        """Authorization header for `key` (default: `api_key`)."""
        return {"Authorization": f"Bearer {key or self.api_key}"}

    def output(self) -> str:
        """Everything gunicorn and the workers wrote to stdout/stderr so far."""
        return self.process.output()

    def request(self, method: str, path: str, **kwargs: Any) -> Reply:
        """`method path` over loopback HTTP, as a client sees it (requests' keywords)."""
        import requests

        kwargs.setdefault("timeout", 30)
        response = requests.request(method, self.url(path), **kwargs)
        return Reply(response.status_code, response.headers, response.content)

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Reply:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Reply:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Reply:
        return self.request("DELETE", path, **kwargs)


def agent_environment(redis_url: str, workers: int, metrics_dir: Path, port: int,
                      env: dict[str, str] | None) -> dict[str, str]:
    base = {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}
    base.update({
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "REDIS_URL": redis_url,
        "AGENT_API_KEYS": DEFAULT_API_KEY,
        "GUNICORN_WORKERS": str(workers),
        "GUNICORN_GRACEFUL_TIMEOUT": "10",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "PYTHONUNBUFFERED": "1",
    })
    base.update(env or {})
    return base


@contextlib.contextmanager
def agent_server(redis_url: str, workers: int = 2, env: dict[str, str] | None = None,
                 start_timeout: float = 30.0, stop_timeout: float = 20.0,
                 config: str = "agent.gunicorn_config",
                 port: int | None = None) -> Iterator[AgentServer]:
    """Run `gunicorn -c python:agent.gunicorn_config agent.wsgi:app` until the block exits
    (`config`: another config module, importable with the env's PYTHONPATH), on `port`
    (default: a free one)."""
    port = port or free_port()
    metrics_dir = Path(tempfile.mkdtemp(prefix="agent-metrics-"))
    full_env = agent_environment(redis_url, workers, metrics_dir, port, env)
    args = [arg.replace("agent.gunicorn_config", config) for arg in GUNICORN_ARGS]
    process = ManagedProcess([sys.executable, *args], env=full_env, cwd=str(REPO_ROOT))
    server = AgentServer(port=port, process=process, metrics_dir=metrics_dir, env=full_env)
    try:
        process.start()
        try:
            wait_for_port(port, timeout=start_timeout, proc=process.proc)
            wait_for_http(server.url("/healthz"), timeout=start_timeout)
        except (TimeoutError, RuntimeError) as exc:
            raise RuntimeError(f"agent did not start on port {port}:\n{server.output()}") from exc
        yield server
    finally:
        process.stop(timeout=stop_timeout)
        shutil.rmtree(metrics_dir, ignore_errors=True)


class Reply:
    """An HTTP answer with the parts of `requests.Response` the tests read, for both agents."""

    def __init__(self, status_code: int, headers: Any, body: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = body
        self.text = body.decode("utf-8", errors="replace")

    @property
    def ok(self) -> bool:
        return self.status_code < 400

    def __bool__(self) -> bool:        # like requests: an error status is falsy
        return self.ok

    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class InProcessAgent:
    """The agent app in this process (`create_app(...).test_client()`), against a real Redis:
    the same requests and answers as `AgentServer` (`get/post/put/delete(path, headers=...,
    json=..., data=...)`), without gunicorn. Use `AgentServer` where the behaviour is
    gunicorn's: workers, draining, multiprocess metrics, the process log."""

    app: Any
    env: dict[str, str] = field(repr=False)

    @property
    def api_key(self) -> str:
        return self.env.get("AGENT_API_KEYS", DEFAULT_API_KEY).split(",")[0].strip()

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.api_key}"}

    def _call(self, method: str, path: str, headers: dict | None = None, json: Any = None,
              data: Any = None, timeout: float | None = None) -> Reply:
        kwargs: dict[str, Any] = {"headers": headers or {}}
        if json is not None:
            kwargs["json"] = json
        if data is not None:
            kwargs["data"] = data
        response = self.app.test_client().open(path, method=method, **kwargs)
        return Reply(response.status_code, response.headers, response.get_data())

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self._call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Reply:
        return self._call("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Reply:
        return self._call("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Reply:
        return self._call("DELETE", path, **kwargs)


def in_process_agent(redis_url: str, env: dict[str, str] | None = None) -> InProcessAgent:
    """The app built by `create_app` from the same environment `agent_server` would use."""
    from agent.app import create_app

    full = {"REDIS_URL": redis_url, "AGENT_API_KEYS": DEFAULT_API_KEY, **(env or {})}
    return InProcessAgent(create_app(full), full)
