"""Helpers of the agent suite: talk to an agent (gunicorn or in process) and read /metrics."""

from __future__ import annotations

import re
import time

from support.agent import AgentServer, InProcessAgent, Reply

Agent = AgentServer | InProcessAgent


def new_session(server: Agent, key: str | None = None) -> str:
    response = server.post("/v1/sessions", headers=server.headers(key), timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def say(server: Agent, session_id: str, content: str, key: str | None = None) -> Reply:
    return server.post(f"/v1/sessions/{session_id}/messages", headers=server.headers(key),
                       json={"content": content}, timeout=30)


def metric_samples(server: Agent, name: str) -> dict[str, float]:
    """Samples of one metric from /metrics, keyed by their label text (`{...}` or '')."""
    response = server.get("/metrics", timeout=10)
    assert response.status_code == 200, (response.status_code, response.text[:500])
    text = response.text
    samples = {}
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}(\{{.*\}})? (\S+)$", line)
        if match:
            samples[match.group(1) or ""] = float(match.group(2))
    return samples


def eventually(check, timeout: float = 20.0, interval: float = 0.1):
    """Poll `check` until it returns something other than None/False (a functional wait,
    not a timing assertion). Note a `requests.Response` is falsy when its status is >= 400."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last is not None and last is not False:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not reached within {timeout}s (last: {last!r})")


def total(samples: dict[str, float], **labels: str) -> float:
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(v for k, v in samples.items() if all(w in k for w in wanted))
