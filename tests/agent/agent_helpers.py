"""Helpers of the agent suite: talk to a running agent and read its /metrics."""

from __future__ import annotations

import re

import requests
from support.agent import AgentServer


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
