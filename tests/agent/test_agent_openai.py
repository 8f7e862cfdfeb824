"""The openai backend against a real local server speaking chat completions; the agent in
process (the behaviour is the app's) on a real Redis."""

from __future__ import annotations

import pytest
from agent_fake_llm import FakeLLM
from agent_helpers import metric_samples, new_session, say
from support.agent import InProcessAgent, in_process_agent


@pytest.fixture(scope="module")
def openai_agent(module_redis, fake_llm: FakeLLM, tmp_path_factory) -> InProcessAgent:
    key_file = tmp_path_factory.mktemp("secret") / "openai-key"
    key_file.write_text("sk-test-from-file\n")
    env = {"AGENT_BACKEND": "openai", "AGENT_OPENAI_BASE_URL": fake_llm.base_url,
           "AGENT_OPENAI_MODEL": "fake-model-1", "AGENT_OPENAI_API_KEY_FILE": str(key_file),
           "AGENT_OPENAI_TIMEOUT_SECONDS": "1", "AGENT_OPENAI_MAX_RETRIES": "2",
           "AGENT_OPENAI_BACKOFF_SECONDS": "0.05", "AGENT_RATE_LIMIT": "100000/minute"}
    return in_process_agent(module_redis.url, env)


def calls(server: InProcessAgent, outcome: str) -> float:
    label = f'{{backend="openai",model="fake-model-1",outcome="{outcome}"}}'
    return metric_samples(server, "agent_llm_calls_total").get(label, 0.0)


def test_success_sends_history_and_counts_tokens(openai_agent: InProcessAgent,
                                                 fake_llm: FakeLLM) -> None:
    sid = new_session(openai_agent)
    fake_llm.reset(("reply", "Hello Ada."), ("reply", "You are Ada."))
    assert say(openai_agent, sid, "I am Ada").json()["message"]["content"] == "Hello Ada."
    second = say(openai_agent, sid, "who am I?")
    assert second.status_code == 200
    assert second.json()["message"]["content"] == "You are Ada."
    assert second.json()["usage"] == {"prompt_tokens": 11, "completion_tokens": 7}

    sent = fake_llm.requests[-1]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["headers"]["Authorization"] == "Bearer sk-test-from-file"
    assert sent["body"]["model"] == "fake-model-1"
    roles = [(m["role"], m["content"]) for m in sent["body"]["messages"]]
    assert roles[0][0] == "system"
    assert roles[1:] == [("user", "I am Ada"), ("assistant", "Hello Ada."), ("user", "who am I?")]

    tokens = metric_samples(openai_agent, "agent_tokens_total")
    assert tokens['{backend="openai",kind="prompt",model="fake-model-1"}'] >= 22
    assert tokens['{backend="openai",kind="completion",model="fake-model-1"}'] >= 14


def test_timeout_is_504_and_not_stored(openai_agent: InProcessAgent, fake_llm: FakeLLM) -> None:
    sid = new_session(openai_agent)
    before = calls(openai_agent, "timeout")
    fake_llm.reset(("sleep", 3, "too late"))
    response = say(openai_agent, sid, "hello?")
    assert response.status_code == 504, response.text
    assert response.json()["error"]["code"] == "upstream_timeout"
    assert len(fake_llm.requests) == 1  # a timeout is not retried
    assert calls(openai_agent, "timeout") == before + 1
    history = openai_agent.get(f"/v1/sessions/{sid}", headers=openai_agent.headers())
    assert history.json()["messages"] == []  # a failed turn leaves nothing half-written


def test_5xx_is_retried_then_502(openai_agent: InProcessAgent, fake_llm: FakeLLM) -> None:
    sid = new_session(openai_agent)
    before = calls(openai_agent, "error")
    fake_llm.reset(("status", 500), ("status", 503), ("status", 502), ("reply", "unused"))
    response = say(openai_agent, sid, "hello?")
    assert response.status_code == 502, response.text
    error = response.json()["error"]
    assert error["code"] == "upstream_error" and "3 attempt" in error["message"]
    assert len(fake_llm.requests) == 3  # 1 try + AGENT_OPENAI_MAX_RETRIES=2
    assert calls(openai_agent, "error") == before + 1


def test_retry_then_success(openai_agent: InProcessAgent, fake_llm: FakeLLM) -> None:
    sid = new_session(openai_agent)
    fake_llm.reset(("status", 503), ("status", 429), ("reply", "third time lucky"))
    response = say(openai_agent, sid, "hello?")
    assert response.status_code == 200, response.text
    assert response.json()["message"]["content"] == "third time lucky"
    assert len(fake_llm.requests) == 3


@pytest.mark.parametrize("action", [("status", 401), ("status", 400),
                                    ("raw", "not json"), ("raw", '{"choices": []}')])
def test_non_retryable_failures_are_502(openai_agent: InProcessAgent, fake_llm: FakeLLM,
                                        action: tuple) -> None:
    sid = new_session(openai_agent)
    fake_llm.reset(action)
    response = say(openai_agent, sid, "hello?")
    assert response.status_code == 502, response.text
    assert response.json()["error"]["code"] == "upstream_error"
    assert len(fake_llm.requests) == 1
