"""`python -m agent.smoke` (the post-sync check) against a live gunicorn agent and broken ones:
Redis down (/readyz 503), every API call failing (AGENT_FAULT_RATE=1), nothing listening."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.agent import AgentServer, agent_server
from support.processes import RedisServer, free_port


def smoke(url: str, *extra: str, key: str | None = "test-key-0001",
          key_file: Path | None = None, wait: str = "3") -> subprocess.CompletedProcess:
    """Run the smoke test; `wait` bounds its wait for /readyz (short where /readyz never
    turns ready: the test then sees it retry and give up)."""
    env = {"PATH": "/usr/bin:/bin"}
    if key:
        env["AGENT_SMOKE_API_KEY"] = key
    args = [sys.executable, "-m", "agent.smoke", "--url", url, "--wait", wait, *extra]
    if key_file:
        args += ["--api-key-file", str(key_file)]
    return subprocess.run(args, capture_output=True, text=True, timeout=60, env=env,
                          check=False)


def test_a_working_agent_passes_and_leaves_no_session(agent: AgentServer,
                                                      module_redis: RedisServer) -> None:
    proc = smoke(agent.base_url)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for step in ("readyz", "create session", "message", "delete session"):
        assert f"ok   {step}" in proc.stdout
    assert "passed" in proc.stdout
    import redis

    client = redis.Redis.from_url(module_redis.url)
    assert not [k for k in client.scan_iter("*") if b"session" in k and b"rate" not in k]


def test_the_key_comes_from_the_agent_key_file(agent: AgentServer, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("test-key-0001\n")
    assert smoke(agent.base_url, key=None, key_file=keys).returncode == 0
    keys.write_text("")
    proc = smoke(agent.base_url, key=None, key_file=keys)
    assert proc.returncode == 1 and "holds no key" in proc.stderr


def test_a_wrong_key_fails_at_create_session(agent: AgentServer) -> None:
    proc = smoke(agent.base_url, key="not-the-key-000000")
    assert proc.returncode == 1
    assert "create session" in proc.stderr and "401" in proc.stderr


def test_redis_down_fails_at_readyz() -> None:
    redis_server = RedisServer().start()
    with agent_server(redis_server.url, workers=1) as broken:
        redis_server.stop()
        proc = smoke(broken.base_url, wait="0.5")
    assert proc.returncode == 1, proc.stdout
    assert proc.stdout.startswith("wait ") and "readyz" in proc.stdout  # retried
    assert "readyz" in proc.stderr and "503" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_failing_api_fails_the_smoke_test(module_redis: RedisServer) -> None:
    with agent_server(module_redis.url, workers=1, env={"AGENT_FAULT_RATE": "1"}) as broken:
        proc = smoke(broken.base_url)
    assert proc.returncode == 1, proc.stdout
    assert "create session" in proc.stderr and "500" in proc.stderr


@pytest.mark.parametrize("url", ["http://127.0.0.1:{port}", "ftp://x", "not a url"])
def test_unreachable_or_bad_url(url: str) -> None:
    proc = smoke(url.format(port=free_port()), wait="0.5")
    assert proc.returncode in (1, 2)
    assert "Traceback" not in proc.stderr
    if "{port}" in url:
        assert proc.returncode == 1 and "unreachable" in proc.stderr
        assert proc.stdout.startswith("wait ") and "readyz" in proc.stdout  # retried
