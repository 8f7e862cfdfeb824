"""Fixtures of the agent suite: real redis-server, real gunicorn agents, a fake LLM server."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests
from agent_fake_llm import FakeLLM
from support.agent import AgentServer, agent_server
from support.processes import RedisServer


@pytest.fixture(scope="module")
def module_redis() -> Iterator[RedisServer]:
    """One real redis-server shared by a module's tests (each test uses fresh sessions)."""
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def agent(module_redis: RedisServer) -> Iterator[AgentServer]:
    """A builtin-backend agent on gunicorn with 2 workers, generous rate limit."""
    with agent_server(module_redis.url, workers=2,
                      env={"AGENT_RATE_LIMIT": "100000/minute",
                           "AGENT_HISTORY_MAX_MESSAGES": "6",
                           "AGENT_MAX_BODY_BYTES": "2048",
                           "AGENT_MAX_MESSAGE_CHARS": "500"}) as server:
        yield server


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[FakeLLM]:
    server = FakeLLM().start()
    yield server
    server.stop()


def new_session(server: AgentServer, key: str | None = None) -> str:
    response = requests.post(server.url("/v1/sessions"), headers=server.headers(key), timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def say(server: AgentServer, session_id: str, content: str,
        key: str | None = None) -> requests.Response:
    return requests.post(server.url(f"/v1/sessions/{session_id}/messages"),
                         headers=server.headers(key), json={"content": content}, timeout=30)


def metric_samples(server: AgentServer, name: str) -> dict[str, float]:
    """Samples of one metric from /metrics, keyed by their label text (`{...}` or '')."""
    text = requests.get(server.url("/metrics"), timeout=10).text
    samples = {}
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}(\{{.*\}})? (\S+)$", line)
        if match:
            samples[match.group(1) or ""] = float(match.group(2))
    return samples
