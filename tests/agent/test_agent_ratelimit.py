"""The per-key rate limit, in process against a real Redis: every /v1 request counts once
(the message path checks it in the same round trip as the session read), a refused turn
writes nothing, concurrent requests are counted exactly, and the counts are those of the
`limits` library's moving window (shared with a process that still uses it). Shared across
gunicorn workers and replicas: test_agent_lifecycle.py."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import redis as redis_lib
from agent_helpers import metric_samples, new_session, say
from limits import parse
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter
from support.agent import InProcessAgent, in_process_agent

KEY, OTHER = "limited-key-1", "other-key-22"


def limited(redis_url: str, limit: str) -> InProcessAgent:
    return in_process_agent(redis_url, {"AGENT_RATE_LIMIT": limit,
                                        "AGENT_API_KEYS": f"{KEY},{OTHER}"})


def assert_limited(response) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def builtin_calls(agent: InProcessAgent) -> float:
    samples = metric_samples(agent, "agent_llm_calls_total")
    return samples.get('{backend="builtin",model="builtin",outcome="ok"}', 0.0)


def test_every_v1_request_counts_once_messages_included(redis) -> None:
    agent = limited(redis.url, "7/minute")
    sid = new_session(agent)                                                     # 1
    assert say(agent, sid, "what is 1 + 1").status_code == 200                   # 2
    assert say(agent, sid, "what is my name?").status_code == 200                # 3
    empty = agent.post(f"/v1/sessions/{sid}/messages", json={"content": " "},
                       headers=agent.headers())
    assert empty.status_code == 422                                              # 3
    assert say(agent, "0" * 32, "hello").status_code == 404                      # 4
    assert say(agent, "not-a-session", "hello").status_code == 404               # 5
    assert agent.get(f"/v1/sessions/{sid}", headers=agent.headers()).ok         # 6

    calls = builtin_calls(agent)  # /metrics is not under /v1: not limited
    assert_limited(say(agent, sid, "what is 2 + 2"))  # answered without the session
    assert_limited(say(agent, sid, "what is my name?"))  # answered from the session
    assert builtin_calls(agent) == calls  # a refused turn counts no backend call
    assert_limited(agent.post(f"/v1/sessions/{sid}/messages", json={"content": " "},
                              headers=agent.headers()))  # the limit comes before the body
    assert_limited(agent.post(f"/v1/sessions/{sid}/messages", data=b"{",
                              headers=agent.headers()))
    assert_limited(agent.get(f"/v1/sessions/{sid}", headers=agent.headers()))
    client = redis_lib.Redis.from_url(redis.url)
    assert client.llen(f"agent:s:{{{sid}}}:messages") == 4  # refused turns wrote nothing
    assert new_session(agent, OTHER)  # another key has its own budget


def test_concurrent_messages_are_counted_exactly(redis) -> None:
    agent = limited(redis.url, "11/minute")
    sid = new_session(agent)
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda n: say(agent, sid, f"what is {n} + 1").status_code,
                              range(40)))
    assert sorted(codes) == [200] * 10 + [429] * 30
    client = redis_lib.Redis.from_url(redis.url)
    assert client.llen(f"agent:s:{{{sid}}}:messages") == 20


def test_counts_are_shared_with_the_limits_library(redis) -> None:
    from agent.sessions import owner_of

    agent = limited(redis.url, "3/minute")
    item, owner = parse("3/minute"), owner_of(KEY)
    library = MovingWindowRateLimiter(RedisStorage(redis.url, key_prefix="agent:ratelimit"))
    assert library.hit(item, owner) and library.hit(item, owner)
    sid = new_session(agent)
    assert_limited(say(agent, sid, "hello"))
    assert not library.hit(item, owner)
    assert library.get_window_stats(item, owner).remaining == 0
