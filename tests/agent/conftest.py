"""Fixtures of the agent suite: real redis-server, the agent in process and on gunicorn, a
fake LLM server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from agent_fake_llm import FakeLLM
from support.agent import AgentServer, InProcessAgent, agent_server, in_process_agent
from support.processes import RedisServer


@pytest.fixture(scope="module")
def module_redis() -> Iterator[RedisServer]:
    """One real redis-server shared by a module's tests (each test uses fresh sessions)."""
    server = RedisServer().start()
    yield server
    server.stop()


AGENT_ENV = {"AGENT_RATE_LIMIT": "100000/minute", "AGENT_HISTORY_MAX_MESSAGES": "6",
             "AGENT_MAX_BODY_BYTES": "2048", "AGENT_MAX_MESSAGE_CHARS": "500"}


@pytest.fixture(scope="module")
def local_agent(module_redis: RedisServer) -> InProcessAgent:
    """A builtin-backend agent app in this process (Flask's test client) on a real Redis,
    generous rate limit: for the API's own behaviour."""
    return in_process_agent(module_redis.url, AGENT_ENV)


@pytest.fixture(scope="module")
def agent(module_redis: RedisServer) -> Iterator[AgentServer]:
    """The same agent on gunicorn with 2 workers: for what a real server does (other
    processes talking to it, workers, the process log)."""
    with agent_server(module_redis.url, workers=2, env=AGENT_ENV) as server:
        yield server


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[FakeLLM]:
    server = FakeLLM().start()
    yield server
    server.stop()
