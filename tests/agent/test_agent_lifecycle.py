"""What gunicorn does, on a real gunicorn with several workers: metrics aggregated across
workers (and the metrics directory it makes when none is set), the rate limit shared across
workers and replicas, graceful SIGTERM with requests in flight (and the access lines still
waiting written), starting while Redis is down, API-key file rotation picked up by every
worker. The app's own behaviour is tested in process (test_agent_api.py, test_agent_store.py,
...)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from agent_fake_llm import FakeLLM
from agent_helpers import eventually, metric_samples, new_session, say, total
from support.agent import AgentServer, agent_server
from support.processes import REPO_ROOT, RedisServer


def access_entries(server: AgentServer) -> list[dict]:
    """The access lines the workers have written so far (each a moment after its request:
    they are written in batches)."""
    return [json.loads(line) for line in server.output().splitlines()
            if line.startswith("{") and '"agent.access"' in line]


def worker_pids(server: AgentServer, request_id: str | None = None) -> set[int]:
    """PIDs of the workers that logged a request line (only those with `request_id`)."""
    return {entry["pid"] for entry in access_entries(server)
            if request_id is None or entry["request_id"] == request_id}


def test_metrics_are_aggregated_across_workers(redis: RedisServer) -> None:
    with agent_server(redis.url, workers=2, env={"AGENT_RATE_LIMIT": "100000/minute"}) as agent:
        sent = 0
        with ThreadPoolExecutor(8) as pool:
            # Fresh connections, concurrently, until both workers have served requests.
            for _ in range(30):
                codes = list(pool.map(lambda _: requests.get(agent.url("/version"),
                                                             timeout=10).status_code, range(16)))
                assert codes == [200] * 16
                sent += 16
                if len(worker_pids(agent)) >= 2:
                    break
        assert len(worker_pids(agent)) == 2, "both workers should have served requests"
        samples = metric_samples(agent, "http_requests_total")
        assert total(samples, route="/version", status="200") == sent
        files = os.listdir(agent.metrics_dir)
        assert len({re.sub(r"\D", "", f) for f in files if f.startswith("counter_")}) >= 2

        # A worker dies: the master replaces it, counters keep what it counted, and the
        # dead worker's live gauges are dropped (child_exit -> mark_process_dead).
        sid = new_session(agent)
        assert sid
        victim = sorted(worker_pids(agent))[0]
        os.kill(victim, signal.SIGKILL)
        eventually(lambda: requests.get(agent.url("/healthz"), timeout=5).ok)
        after = metric_samples(agent, "http_requests_total")
        assert total(after, route="/version", status="200") == sent
        eventually(lambda: metric_samples(agent, "agent_sessions_active").get("") == 1.0)
        # the master drops them when it reaps the worker, which the surviving worker's
        # answers above do not wait for
        eventually(lambda: not any(f.endswith(f"_{victim}.db") and f.startswith("gauge_live")
                                   for f in os.listdir(agent.metrics_dir)))

        # A worker creates each sample file empty and sizes it a moment later; one killed
        # in between leaves the empty file for good. The scrape still answers, with every
        # other worker's samples (prometheus_client alone failed it: client_python#1199).
        for name in ("counter_4194301.db", "histogram_4194301.db", "gauge_livesum_4194301.db"):
            (Path(agent.metrics_dir) / name).touch()
        assert total(metric_samples(agent, "http_requests_total"), route="/version",
                     status="200") == sent


def test_without_a_metrics_dir_the_master_makes_one_and_removes_it(redis: RedisServer,
                                                                    tmp_path) -> None:
    env = {"PROMETHEUS_MULTIPROC_DIR": "", "TMPDIR": str(tmp_path)}  # empty counts as unset
    with agent_server(redis.url, workers=2, env=env) as agent:
        made = list(tmp_path.glob("agent-metrics-*"))
        assert len(made) == 1, made
        for _ in range(6):
            assert requests.get(agent.url("/version"), timeout=10).ok
        samples = metric_samples(agent, "http_requests_total")
        assert total(samples, route="/version", status="200") == 6
        assert list(made[0].glob("counter_*.db"))
    assert not list(tmp_path.glob("agent-metrics-*"))
    assert not list(REPO_ROOT.glob("*.db"))  # no metric file outside the directory (cwd)


def test_rate_limit_is_shared_across_workers_and_replicas(redis: RedisServer) -> None:
    env = {"AGENT_RATE_LIMIT": "5/minute", "AGENT_API_KEYS": "limited-key-1,other-key-22"}
    with agent_server(redis.url, workers=2, env=env) as one, \
            agent_server(redis.url, workers=2, env=env) as two:
        codes = []
        for i in range(8):
            server = one if i % 2 == 0 else two
            response = requests.post(server.url("/v1/sessions"), timeout=10,
                                     headers={**server.headers(), "Connection": "close"})
            codes.append(response.status_code)
            if response.status_code == 429:
                assert response.json()["error"]["code"] == "rate_limited"
                assert 1 <= int(response.headers["Retry-After"]) <= 60
        assert codes == [201] * 5 + [429] * 3
        # Another key has its own budget.
        other = requests.post(one.url("/v1/sessions"), headers=one.headers("other-key-22"),
                              timeout=10)
        assert other.status_code == 201
        assert total(metric_samples(one, "http_requests_total"), status="429") + total(
            metric_samples(two, "http_requests_total"), status="429") == 3


def test_a_worker_with_every_thread_busy_leaves_new_connections_to_another(
        redis: RedisServer) -> None:
    """One thread per worker, two workers: while one worker's thread waits on the LLM, every
    new connection is answered at once, by the other worker (plain gthread let the busy
    worker accept about half of them, whose requests then waited for the LLM's answer)."""
    fake = FakeLLM().start()
    try:
        env = {"AGENT_BACKEND": "openai", "AGENT_OPENAI_BASE_URL": fake.base_url,
               "AGENT_OPENAI_API_KEY": "sk-test", "AGENT_OPENAI_TIMEOUT_SECONDS": "30",
               "GUNICORN_THREADS": "1"}
        with agent_server(redis.url, workers=2, env=env) as agent:
            sid = new_session(agent)

            def both_workers_serve() -> bool:
                assert requests.get(agent.url("/healthz"), timeout=5).status_code == 200
                return len(worker_pids(agent)) == 2

            eventually(both_workers_serve)
            fake.reset(("hold", "done"))
            with ThreadPoolExecutor(1) as pool:
                busy = pool.submit(say, agent, sid, "slow")
                eventually(lambda: fake.in_flight == 1)
                for _ in range(12):  # each on a new connection
                    assert requests.get(agent.url("/healthz"), timeout=3,
                                        headers={"X-Request-ID": "while-busy"}).ok
                eventually(lambda: sum(entry["request_id"] == "while-busy"
                                       for entry in access_entries(agent)) == 12)
                assert len(worker_pids(agent, "while-busy")) == 1  # the one not busy
                fake.release()
                assert busy.result().status_code == 200
            # once its thread is free, the other worker takes new connections again
            eventually(lambda: requests.get(agent.url("/healthz"), timeout=5,
                                            headers={"X-Request-ID": "after-release"}).ok
                       and len(worker_pids(agent, "after-release")) == 2)
    finally:
        fake.stop()


def test_connections_that_send_nothing_do_not_stop_a_worker_from_accepting(
        redis: RedisServer) -> None:
    """One worker, one thread: silent connections hold a thread's place only briefly, so a
    client that opens connections and never writes cannot take the service down."""
    with agent_server(redis.url, workers=1, env={"GUNICORN_THREADS": "1"}) as agent:
        assert requests.get(agent.url("/healthz"), timeout=5).status_code == 200
        silent = [socket.create_connection(("127.0.0.1", agent.port)) for _ in range(4)]
        try:
            time.sleep(0.2)  # accepted by now
            for _ in range(3):
                assert requests.get(agent.url("/healthz"), timeout=5).status_code == 200
        finally:
            for sock in silent:
                sock.close()


def test_sigterm_drains_and_finishes_in_flight_requests(redis: RedisServer) -> None:
    fake = FakeLLM().start()
    try:
        env = {"AGENT_BACKEND": "openai", "AGENT_OPENAI_BASE_URL": fake.base_url,
               "AGENT_OPENAI_API_KEY": "sk-test", "AGENT_OPENAI_TIMEOUT_SECONDS": "10",
               "AGENT_DRAIN_SECONDS": "2", "GUNICORN_GRACEFUL_TIMEOUT": "15",
               "GUNICORN_THREADS": "8"}  # 6 slow requests fit in either worker
        with agent_server(redis.url, workers=2, env=env) as agent:
            sessions = [new_session(agent) for _ in range(6)]
            fake.reset(*[("hold", f"slow answer {i}") for i in range(6)])
            with ThreadPoolExecutor(6) as pool:
                futures = [pool.submit(say, agent, sid, "take your time") for sid in sessions]
                eventually(lambda: fake.in_flight == 6)
                agent.process.signal(signal.SIGTERM)
                not_ready = eventually(lambda: _readyz(agent))
                assert not_ready.status_code == 503
                assert not_ready.json()["checks"]["draining"].startswith("failed")
                assert "draining" in not_ready.json()["error"]["message"]
                assert requests.get(agent.url("/healthz"), timeout=5).status_code == 200
                fake.release()  # the LLM answers only now, while the workers drain
                results = [f.result() for f in futures]
            assert [r.status_code for r in results] == [200] * 6
            assert sorted(r.json()["message"]["content"] for r in results) == \
                sorted(f"slow answer {i}" for i in range(6))
            assert agent.process.proc.wait(20) == 0
    finally:
        fake.stop()


def test_sigterm_without_drain_period_still_serves_while_busy(redis: RedisServer) -> None:
    """Default AGENT_DRAIN_SECONDS=0: a busy worker keeps answering (readyz 503) until its
    requests are done, then exits; nothing in flight is lost."""
    fake = FakeLLM().start()
    try:
        env = {"AGENT_BACKEND": "openai", "AGENT_OPENAI_BASE_URL": fake.base_url,
               "AGENT_OPENAI_API_KEY": "sk-test", "GUNICORN_THREADS": "8"}
        with agent_server(redis.url, workers=2, env=env) as agent:
            sessions = [new_session(agent) for _ in range(4)]
            fake.reset(*[("hold", "done") for _ in range(4)])
            with ThreadPoolExecutor(4) as pool:
                futures = [pool.submit(say, agent, sid, "slow") for sid in sessions]
                eventually(lambda: fake.in_flight == 4)
                agent.process.signal(signal.SIGTERM)
                # Well after SIGTERM (an idle worker stops at once), with the requests still
                # in flight (the LLM holds them until released): the busy worker answers.
                time.sleep(1)
                ready = requests.get(agent.url("/readyz"), timeout=5)
                assert ready.status_code == 503
                fake.release()
                assert [f.result().status_code for f in futures] == [200] * 4
            assert agent.process.proc.wait(20) == 0, agent.output()[-3000:]
    finally:
        fake.stop()


def test_sigterm_while_a_worker_is_still_booting_drops_no_connection(redis: RedisServer,
                                                                    tmp_path) -> None:
    """A worker that gets SIGTERM before its loop has started accepts nothing afterwards
    (it used to accept a connection and exit without reading it: a reset). Meanwhile the
    other, busy worker answers every new connection."""
    fake = FakeLLM().start()
    gate = tmp_path / "boot-gate"
    try:
        env = {"AGENT_BACKEND": "openai", "AGENT_OPENAI_BASE_URL": fake.base_url,
               "AGENT_OPENAI_API_KEY": "sk-test", "AGENT_TEST_BOOT_GATE": str(gate),
               "PYTHONPATH": str(REPO_ROOT / "tests" / "agent")}
        with agent_server(redis.url, workers=2, env=env,
                          config="agent_slow_boot_config") as agent:
            sid = new_session(agent)  # only the first worker is serving
            fake.reset(("hold", "done"))
            with ThreadPoolExecutor(8) as pool:
                busy = pool.submit(say, agent, sid, "slow")
                eventually(lambda: fake.in_flight == 1)
                agent.process.signal(signal.SIGTERM)
                gate.touch()  # the second worker enters its loop now, after SIGTERM
                deadline = time.monotonic() + 2  # past the loop's 1 s poll
                while time.monotonic() < deadline:
                    codes = list(pool.map(lambda _: requests.get(agent.url("/readyz"),
                                                                 timeout=5).status_code,
                                          range(8)))
                    assert codes == [503] * 8
                fake.release()
                assert busy.result().status_code == 200
            assert agent.process.proc.wait(20) == 0, agent.output()[-3000:]
    finally:
        fake.stop()


def _readyz(agent: AgentServer) -> requests.Response | None:
    """The /readyz response once it is 503 (None meanwhile, or if a poll hits the stop)."""
    try:
        response = requests.get(agent.url("/readyz"), timeout=5)
    except requests.ConnectionError:
        return None
    return response if response.status_code == 503 else None


def test_access_lines_still_waiting_are_written_when_a_worker_stops(redis: RedisServer) -> None:
    """Access lines are written in batches, up to AGENT_ACCESS_LOG_FLUSH_SECONDS late; a
    worker stopped gracefully (SIGTERM) writes the lines still waiting before it exits."""
    with agent_server(redis.url, workers=1,
                      env={"AGENT_ACCESS_LOG_FLUSH_SECONDS": "10"}) as agent:
        ids = [f"stop-{n}" for n in range(5)]
        for request_id in ids:
            assert agent.get("/healthz", headers={"X-Request-ID": request_id}).status_code == 200
        assert not any(request_id in agent.output() for request_id in ids)  # still waiting
        agent.process.signal(signal.SIGTERM)
        assert agent.process.proc.wait(20) == 0
        logged = [entry["request_id"] for entry in access_entries(agent)]
        assert [request_id for request_id in logged if request_id.startswith("stop-")] == ids


def test_agent_starts_while_redis_is_down() -> None:
    from support.processes import free_port

    with agent_server(f"redis://127.0.0.1:{free_port()}/0", workers=1) as agent:
        assert requests.get(agent.url("/healthz"), timeout=5).status_code == 200
        ready = requests.get(agent.url("/readyz"), timeout=5)
        assert ready.status_code == 503 and "redis" in ready.json()["error"]["message"]


def test_api_key_file_rotation_needs_no_restart(redis: RedisServer, tmp_path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("# mounted secret\nold-key-00001\n")
    env = {"AGENT_API_KEYS": "", "AGENT_API_KEYS_FILE": str(keys),
           "AGENT_RATE_LIMIT": "100000/minute", "AGENT_API_KEYS_CHECK_SECONDS": "0.2"}
    with agent_server(redis.url, workers=2, env=env) as agent:
        def status(key: str, request_id: str = "") -> int:
            tagged = {"X-Request-ID": request_id} if request_id else {}
            return requests.post(agent.url("/v1/sessions"),
                                 headers={**agent.headers(key), **tagged}, timeout=10).status_code

        assert status("old-key-00001") == 201 and status("new-key-00002") == 401
        replacement = tmp_path / "keys.new"  # written aside and renamed, like a secret update
        replacement.write_text("new-key-00002\n")
        replacement.replace(keys)
        os.utime(keys, (time.time() + 5, time.time() + 5))
        # Each worker looks at the file at most every 0.2 s, when it serves a request. A worker
        # that accepts the new key has loaded the new file (it never held that key before),
        # so once both workers have been seen accepting it, every worker refuses the old one.
        # (Access lines are written a moment after their requests: the new key's requests
        # are told apart by their request id, not by where they are in the output.)
        def served_the_new_key() -> set[int]:
            return {entry["pid"] for entry in access_entries(agent)
                    if entry["request_id"] == "with-new-key" and entry["status"] == 201}

        def every_worker_has_the_new_key() -> bool:
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda _: status("new-key-00002", "with-new-key"), range(16)))
            return len(served_the_new_key()) == 2

        eventually(every_worker_has_the_new_key)
        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(lambda _: status("new-key-00002"), range(16))) == [201] * 16
            assert list(pool.map(lambda _: status("old-key-00001"), range(16))) == [401] * 16

        keys.write_text("short\n")  # a bad rotation is ignored, the current key keeps working
        os.utime(keys, (time.time() + 10, time.time() + 10))

        def every_worker_ignored_the_bad_file() -> bool:
            with ThreadPoolExecutor(8) as pool:
                codes = list(pool.map(lambda _: status("new-key-00002"), range(16)))
            assert codes == [201] * 16
            ignored = {json.loads(line)["pid"] for line in agent.output().splitlines()
                       if line.startswith("{") and "weak key" in line}
            return len(ignored) == 2

        eventually(every_worker_ignored_the_bad_file)
        assert '"reloaded 1 API key(s)' in agent.output() and "weak key" in agent.output()
