"""Fixtures of the agent suite: real redis-server, real gunicorn agents, a fake LLM server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
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
