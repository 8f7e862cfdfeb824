"""The app with its Redis, in process (the behaviour is the app's, not gunicorn's): Redis
stopped and restarted under it, session TTL expiry, a password-protected Redis, and the
fault-injection test aid counted in the metrics."""

from __future__ import annotations

import os
import signal
import time

from agent_helpers import eventually, metric_samples, new_session, say, total
from support.agent import in_process_agent
from support.processes import RedisServer


def test_redis_outage_and_recovery(redis: RedisServer) -> None:
    agent = in_process_agent(redis.url)
    sid = new_session(agent)
    assert say(agent, sid, "my name is Ada").status_code == 200  # scripts loaded in Redis
    redis.stop()

    down = agent.get("/readyz")
    assert down.status_code == 503
    assert down.json()["checks"]["redis"].startswith("failed")
    assert down.json()["checks"]["draining"] == "ok"
    assert agent.get("/healthz").status_code == 200
    for response in (agent.post("/v1/sessions", headers=agent.headers()),
                     say(agent, sid, "what is my name?")):
        assert response.status_code == 503, response.text  # a clear 503, never a 500
        assert response.json()["error"]["code"] == "redis_unavailable"
        assert response.headers["Retry-After"] == "1"
    assert agent.get("/metrics").status_code == 200

    redis.restart()
    eventually(lambda: agent.get("/readyz").status_code == 200)
    # Redis came back empty (no persistence): the old session is gone, cleanly, and the
    # scripts are loaded again on first use.
    assert say(agent, sid, "hello").status_code == 404
    fresh = new_session(agent)
    assert say(agent, fresh, "what is 2 + 2").json()["message"]["content"] == "2 + 2 = 4"


def test_a_stalled_redis_fails_requests_within_the_timeout() -> None:
    """Redis accepts connections but answers nothing (stopped): a request is answered 503
    within the configured timeout (one retry, a reconnect), not left hanging; it recovers."""
    server = RedisServer().start()
    try:
        agent = in_process_agent(server.url, {"AGENT_REDIS_TIMEOUT_SECONDS": "0.3"})
        sid = new_session(agent)
        assert say(agent, sid, "what is 2 + 2").status_code == 200
        pid = server.process.proc.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            start = time.monotonic()
            stalled = say(agent, sid, "what is 3 + 3")
            elapsed = time.monotonic() - start
            ready = agent.get("/readyz")
        finally:
            os.kill(pid, signal.SIGCONT)
        assert stalled.status_code == 503, stalled.text
        assert stalled.json()["error"]["code"] == "redis_unavailable"
        assert elapsed < 5, elapsed  # 0.3 s per read, one retry; a hang would be 30 s
        assert ready.status_code == 503, ready.text
        eventually(lambda: say(agent, sid, "what is 4 + 4").status_code == 200)
    finally:
        server.stop()


def test_sessions_expire_after_their_ttl(redis: RedisServer) -> None:
    agent = in_process_agent(redis.url, {"AGENT_SESSION_TTL_SECONDS": "1"})
    sid = new_session(agent)
    assert say(agent, sid, "my name is Ada").status_code == 200  # a turn extends the TTL
    path, headers = f"/v1/sessions/{sid}", agent.headers()  # reads do not
    eventually(lambda: agent.get(path, headers=headers).status_code == 404, timeout=15)
    assert say(agent, sid, "what is my name?").status_code == 404
    eventually(lambda: metric_samples(agent, "agent_sessions_active").get("") == 0.0)


def test_password_protected_redis_as_deployed() -> None:
    server = RedisServer(password="s3cret-redis-pass").start()
    try:
        agent = in_process_agent(server.url)
        assert agent.get("/readyz").status_code == 200
        sid = new_session(agent)
        assert say(agent, sid, "what is 2 + 2").json()["message"]["content"] == "2 + 2 = 4"

        wrong = in_process_agent(server.url.replace("s3cret-redis-pass", "wrong-pass"))
        ready = wrong.get("/readyz")
        assert ready.status_code == 503 and "redis" in ready.json()["error"]["message"]
        assert "wrong-pass" not in ready.text
        response = wrong.post("/v1/sessions", headers=wrong.headers())
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "redis_unavailable"
    finally:
        server.stop()


def test_fault_rate_injects_counted_500s(redis: RedisServer) -> None:
    agent = in_process_agent(redis.url, {"AGENT_FAULT_RATE": "1"})

    def failures() -> float:
        return total(metric_samples(agent, "http_requests_total"), route="/v1/sessions",
                     status="500")

    before = failures()
    for _ in range(5):
        response = agent.post("/v1/sessions", headers=agent.headers())
        assert response.status_code == 500
        assert response.json()["error"]["code"] == "injected_fault"
    assert agent.get("/healthz").status_code == 200
    assert failures() == before + 5
    half = in_process_agent(redis.url, {"AGENT_FAULT_RATE": "0.5"})
    codes = {half.post("/v1/sessions", headers=half.headers()).status_code for _ in range(60)}
    assert codes == {201, 500}


def test_a_connection_per_thread_returned_when_the_thread_ends(redis: RedisServer) -> None:
    """`ThreadClients`: a thread reuses its own connection; a server that makes a thread per
    request (the Flask dev server) does not leak one per request."""
    import gc
    import threading

    from agent.redis_client import ThreadClients

    clients = ThreadClients(redis.url, 2.0)
    pool = clients.shared.connection_pool
    assert clients.get() is clients.get() and clients.get().ping()

    def request() -> None:
        assert clients.get() is not clients.shared
        assert clients.get().ping()

    for _ in range(20):
        thread = threading.Thread(target=request)
        thread.start()
        thread.join()
    gc.collect()
    assert len(pool._in_use_connections) == 1  # this thread's
    assert len(pool._available_connections) <= 1  # the others', reused one after the other
