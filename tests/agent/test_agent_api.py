"""The /v1 API and the operational endpoints: the app in process (Flask's test client)
against a real Redis; gunicorn only for gunicorn's own access log."""

from __future__ import annotations

import json
import re

import pytest
from agent_helpers import eventually, metric_samples, new_session, say
from support.agent import AgentServer, InProcessAgent, Reply, agent_server, in_process_agent

ERROR_KEYS = {"code", "message", "request_id"}


@pytest.fixture(scope="module")
def agent(local_agent: InProcessAgent) -> InProcessAgent:
    """In this module the agent runs in process (the API's behaviour is the app's)."""
    return local_agent


def assert_error(response: Reply, status: int, code: str) -> dict:
    """The response is the JSON error shape with this status and code, and no traceback."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) >= ERROR_KEYS, error
    assert error["code"] == code
    assert error["request_id"] == response.headers["X-Request-ID"]
    assert "Traceback" not in response.text and 'File "' not in response.text
    return error


def test_session_lifecycle_and_history(agent: InProcessAgent) -> None:
    created = agent.post("/v1/sessions", headers=agent.headers(), timeout=10)
    assert created.status_code == 201
    body = created.json()
    assert re.fullmatch(r"[0-9a-f]{32}", body["id"]) and body["created_at"].endswith("Z")
    sid = body["id"]

    first = say(agent, sid, "my name is Ada")
    assert first.status_code == 200, first.text
    assert first.json()["message"]["role"] == "assistant"
    assert "Ada" in first.json()["message"]["content"]
    second = say(agent, sid, "What is my name?")
    assert second.json()["message"]["content"] == "Your name is Ada."
    assert second.json()["usage"]["prompt_tokens"] > 0

    history = agent.get(f"/v1/sessions/{sid}", headers=agent.headers(), timeout=10)
    assert history.status_code == 200
    messages = history.json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[0]["content"] == "my name is Ada"
    assert 0 < history.json()["ttl_seconds"] <= 3600

    deleted = agent.delete(f"/v1/sessions/{sid}", headers=agent.headers(),
                              timeout=10)
    assert deleted.status_code == 204
    gone = agent.get(f"/v1/sessions/{sid}", headers=agent.headers(), timeout=10)
    assert_error(gone, 404, "session_not_found")


def test_history_is_capped_but_facts_survive(agent: InProcessAgent) -> None:
    sid = new_session(agent)
    say(agent, sid, "my name is Grace")
    for n in range(5):
        assert say(agent, sid, f"what is {n} + 1").status_code == 200
    messages = agent.get(f"/v1/sessions/{sid}", headers=agent.headers(),
                            timeout=10).json()["messages"]
    assert len(messages) == 6  # AGENT_HISTORY_MAX_MESSAGES=6 in the fixture
    assert messages[-1]["content"] == "4 + 1 = 5"
    assert "Grace" not in json.dumps(messages)
    assert say(agent, sid, "what is my name?").json()["message"]["content"] == \
        "Your name is Grace."


def test_a_turn_reads_only_the_history_its_backend_uses(agent: InProcessAgent) -> None:
    from agent.sessions import owner_of

    sid = new_session(agent)
    for n in range(4):
        assert say(agent, sid, f"what is {n} + 1").status_code == 200
    svc = agent.app.extensions["agent"]
    owner = owner_of(agent.api_key)

    def window(last: int | None) -> list[str]:
        _, history, _ = svc.sessions.open_turn(sid, owner, svc.limiter, last)
        return [m["content"] for m in history]

    assert svc.backend.history_window == 0 and window(0) == []
    assert window(2) == ["what is 3 + 1", "3 + 1 = 4"]
    assert len(window(None)) == len(window(100)) == 6  # all that is kept (the cap)
    assert svc.sessions.open_turn(sid, owner_of("someone-else"), svc.limiter, None) is None


@pytest.mark.parametrize("content, expected", [
    ("what is 2 + 3 * (4 - 1)?", "2 + 3 * (4 - 1) = 11"),
    ("calculate 2^10", "2^10 = 1024"),
    ("7 / 2", "7 / 2 = 3.5"),
    ("what is 1/0", "I can't compute 1/0: division by zero."),
])
def test_builtin_arithmetic_through_the_api(agent: InProcessAgent, content: str,
                                            expected: str) -> None:
    sid = new_session(agent)
    assert say(agent, sid, content).json()["message"]["content"] == expected


def test_builtin_time_and_fallback(agent: InProcessAgent) -> None:
    sid = new_session(agent)
    clock = say(agent, sid, "what time is it?").json()["message"]["content"]
    assert re.search(r"\d\d:\d\d:\d\d UTC", clock)
    fallback = say(agent, sid, "tell me a joke").json()["message"]["content"]
    assert "arithmetic" in fallback and "remember" in fallback


def test_sessions_are_private_to_their_api_key(module_redis) -> None:
    two_keys = in_process_agent(module_redis.url,
                                {"AGENT_API_KEYS": "alice-key-123,bob-key-4567"})
    sid = new_session(two_keys, "alice-key-123")
    other = two_keys.get(f"/v1/sessions/{sid}",
                         headers=two_keys.headers("bob-key-4567"), timeout=10)
    assert_error(other, 404, "session_not_found")
    for content in ("what is 1 + 1", "what is my name?", "my name is Eve"):
        assert_error(say(two_keys, sid, content, "bob-key-4567"), 404, "session_not_found")
    mine = two_keys.get(f"/v1/sessions/{sid}", headers=two_keys.headers("alice-key-123"))
    assert mine.ok and mine.json()["messages"] == []  # nothing written by the other key


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer wrong-key-000"},
    {"Authorization": "Basic dGVzdDp0ZXN0"},
    {"Authorization": "Bearer "},
])
def test_missing_or_invalid_key_is_401(agent: InProcessAgent, headers: dict) -> None:
    response = agent.post("/v1/sessions", headers=headers, timeout=10)
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_invalid_json_is_400(agent: InProcessAgent) -> None:
    sid = new_session(agent)
    for body in (b"{not json", b"\xff\xfe", b""):
        response = agent.post(f"/v1/sessions/{sid}/messages", data=body,
                                 headers={**agent.headers(), "Content-Type": "application/json"},
                                 timeout=10)
        assert_error(response, 400, "invalid_json")


def test_bodies_the_standard_json_module_reads_are_still_read(agent: InProcessAgent) -> None:
    """Bodies are parsed by orjson, and what it refuses by `json` (as before): a byte order
    mark or NaN is not a 400."""
    sid = new_session(agent)
    url, headers = f"/v1/sessions/{sid}/messages", {**agent.headers(),
                                                    "Content-Type": "application/json"}
    response = agent.post(url, data=b'\xef\xbb\xbf{"content": "2 + 2"}', headers=headers)
    assert response.status_code == 200 and response.json()["message"]["content"] == "2 + 2 = 4"
    response = agent.post(url, data=b'{"content": "2 + 2", "n": NaN}', headers=headers)
    error = assert_error(response, 422, "validation_failed")
    assert [f["field"] for f in error["fields"]] == ["n"]


def test_non_ascii_text_comes_back_as_utf8_json(agent: InProcessAgent) -> None:
    sid = new_session(agent)
    response = say(agent, sid, "my city is Zürich 東京")
    assert response.headers["Content-Type"] == "application/json"
    assert "Zürich 東京".encode() in response.content  # UTF-8, not \u escapes
    assert response.json()["message"]["content"] == \
        "Got it: your city is Zürich 東京. I'll remember that."
    history = agent.get(f"/v1/sessions/{sid}", headers=agent.headers()).json()["messages"]
    assert history[0]["content"] == "my city is Zürich 東京"
    assert say(agent, sid, "what is my city?").json()["message"]["content"] == \
        "Your city is Zürich 東京."


def test_schema_errors_are_422_listing_fields(agent: InProcessAgent) -> None:
    sid = new_session(agent)
    url = f"/v1/sessions/{sid}/messages"
    cases = [({"content": 5, "extra": True}, {"content", "extra"}),
             ({}, {"content"}),
             ({"content": "   "}, {"content"}),
             ({"content": "x" * 501}, {"content"}),
             (["content"], {"$"})]
    for body, fields in cases:
        response = agent.post(url, json=body, headers=agent.headers(), timeout=10)
        error = assert_error(response, 422, "validation_failed")
        assert {f["field"] for f in error["fields"]} == fields, error


def test_body_over_limit_is_413(agent: InProcessAgent) -> None:
    sid = new_session(agent)
    response = agent.post(f"/v1/sessions/{sid}/messages",
                             json={"content": "y" * 5000}, headers=agent.headers(), timeout=10)
    assert_error(response, 413, "payload_too_large")


def test_unknown_session_route_and_method(agent: InProcessAgent) -> None:
    for sid in ("0" * 32, "not-a-session-id"):
        assert_error(say(agent, sid, "hello"), 404, "session_not_found")
    assert_error(agent.get("/nope", timeout=10), 404, "not_found")
    wrong = agent.put("/v1/sessions", headers=agent.headers(), timeout=10)
    assert_error(wrong, 405, "method_not_allowed")
    assert "POST" in wrong.headers["Allow"]


def test_request_id_is_honoured_and_logged_as_one_json_line(agent: InProcessAgent,
                                                             capsys) -> None:
    capsys.readouterr()
    response = agent.get("/v1/sessions/" + "a" * 32,
                         headers={**agent.headers(), "X-Request-ID": "trace-abc.123"})
    assert response.headers["X-Request-ID"] == "trace-abc.123"
    assert response.json()["error"]["request_id"] == "trace-abc.123"
    forged = agent.get("/healthz", headers={"X-Request-ID": "bad id {} <script>"})
    assert re.fullmatch(r"[0-9a-f]{32}", forged.headers["X-Request-ID"])

    out = ""

    def logged() -> bool:  # access lines are written in batches, a moment later
        nonlocal out
        out += capsys.readouterr().out
        return "trace-abc.123" in out

    eventually(logged, timeout=10)
    lines = [json.loads(line) for line in out.splitlines() if "trace-abc.123" in line]
    assert len(lines) == 1, out  # one line per request
    entry = lines[0]
    assert entry["route"] == "/v1/sessions/<session_id>" and entry["status"] == 404
    assert entry["method"] == "GET" and isinstance(entry["duration_ms"], float | int)
    assert entry["logger"] == "agent.access" and "request_id" in entry


def test_health_readiness_and_version(agent: InProcessAgent) -> None:
    assert agent.get("/healthz", timeout=10).json() == {"status": "ok"}
    ready = agent.get("/readyz", timeout=10)
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"draining": "ok", "redis": "ok"}
    version = agent.get("/version", timeout=10).json()
    assert set(version) >= {"version", "git_sha", "build_date"}


def test_metrics_use_route_templates(agent: InProcessAgent) -> None:
    sid = new_session(agent)
    say(agent, sid, "what is 1 + 1")
    agent.get("/no/such/path/" + sid, timeout=10)
    samples = metric_samples(agent, "http_requests_total")
    routes = {re.search(r'route="([^"]*)"', labels).group(1) for labels in samples}
    assert "/v1/sessions/<session_id>/messages" in routes
    assert "<unmatched>" in routes
    assert not any(sid in route for route in routes)
    assert metric_samples(agent, "agent_build_info")
    tokens = metric_samples(agent, "agent_tokens_total")
    assert any('kind="prompt"' in k and 'backend="builtin"' in k for k in tokens)
    assert any('kind="completion"' in k for k in tokens)
    calls = metric_samples(agent, "agent_llm_calls_total")
    assert calls['{backend="builtin",model="builtin",outcome="ok"}'] >= 1


def test_redis_keys_carry_the_ttl_and_the_gauge_counts_sessions(module_redis,
                                                                agent: InProcessAgent) -> None:
    import redis as redis_lib

    client = redis_lib.Redis.from_url(module_redis.url, decode_responses=True)
    before = metric_samples(agent, "agent_sessions_active")[""]
    sid = new_session(agent)
    say(agent, sid, "my name is Lin")
    keys = sorted(client.scan_iter(f"agent:s:{{{sid}}}:*"))
    assert [k.rsplit(":", 1)[1] for k in keys] == ["memory", "messages", "meta"]
    assert all(0 < client.ttl(k) <= 3600 for k in keys)
    assert client.hget(f"agent:s:{{{sid}}}:memory", "name") == "Lin"
    assert metric_samples(agent, "agent_sessions_active")[""] == before + 1

    agent.delete(f"/v1/sessions/{sid}", headers=agent.headers(), timeout=10)
    assert not list(client.scan_iter(f"agent:s:{{{sid}}}:*"))
    assert metric_samples(agent, "agent_sessions_active")[""] == before


def test_gunicorn_access_log_is_valid_json_when_enabled(module_redis) -> None:
    with agent_server(module_redis.url, workers=1, env={"GUNICORN_ACCESS_LOG": "1"}) as one:
        one.get("/healthz?probe=1", headers={"User-Agent": 'quote " agent'},
                     timeout=10)
        lines = eventually_lines(one, '"gunicorn.access"')
    entries = [json.loads(line) for line in lines]
    probe = next(e for e in entries if e["query"] == "probe=1")
    assert probe["user_agent"] == 'quote " agent' and probe["status"] == 200


def eventually_lines(server: AgentServer, marker: str) -> list[str]:
    """Log lines containing `marker` (polls briefly: the worker writes after answering)."""
    import time

    for _ in range(50):
        lines = [line for line in server.output().splitlines() if marker in line]
        if any("probe=1" in line for line in lines):
            return lines
        time.sleep(0.1)
    raise AssertionError(f"no {marker} line with probe=1 in:\n{server.output()[-2000:]}")
