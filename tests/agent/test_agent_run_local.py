"""`make run` (apps/agent/run-local.sh): starts the agent on localhost:$PORT with its own
redis-server unless REDIS_URL is set, and stops everything it started on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import socket

import requests
from support.processes import REPO_ROOT, ManagedProcess, free_port, wait_for_http

SCRIPT = str(REPO_ROOT / "apps" / "agent" / "run-local.sh")


def _env(port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "AGENT_API_KEYS")}
    env.update(PORT=str(port), GUNICORN_WORKERS="2", **extra)
    return env


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_make_run_target_calls_the_script() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert re.search(r"^run:.*\n\tPORT=\$\(PORT\) apps/agent/run-local.sh", makefile, re.M)


def test_starts_its_own_redis_and_stops_it() -> None:
    port = free_port()
    run = ManagedProcess([SCRIPT], env=_env(port), cwd=str(REPO_ROOT)).start()
    try:
        wait_for_http(f"http://127.0.0.1:{port}/readyz", timeout=30)
        created = requests.post(f"http://127.0.0.1:{port}/v1/sessions", timeout=10,
                                headers={"Authorization": "Bearer dev-key-change-me"})
        assert created.status_code == 201
        redis_port = int(re.search(r"redis://127\.0\.0\.1:(\d+)/0", run.output()).group(1))
        assert _listening(redis_port)
        assert "curl" in run.output()  # the session to try is printed

        os.kill(run.proc.pid, signal.SIGTERM)  # the script only, as `kill <pid>` would
        assert run.proc.wait(30) == 0
        assert not _listening(port) and not _listening(redis_port)
    finally:
        run.stop()


def test_uses_redis_url_when_set(redis) -> None:
    port = free_port()
    run = ManagedProcess([SCRIPT], env=_env(port, REDIS_URL=redis.url,
                                            AGENT_API_KEYS="my-own-key-1"),
                         cwd=str(REPO_ROOT)).start()
    try:
        wait_for_http(f"http://127.0.0.1:{port}/readyz", timeout=30)
        created = requests.post(f"http://127.0.0.1:{port}/v1/sessions", timeout=10,
                                headers={"Authorization": "Bearer my-own-key-1"})
        assert created.status_code == 201
        assert "started redis-server" not in run.output()
    finally:
        run.stop()
