"""`kustodian canary analyze` against a real Prometheus scraping two real gunicorn agents.

Prometheus (Debian binary) scrapes a stable and a canary agent on loopback every second,
labelled track=stable / track=canary. The test drives a bounded load through both and runs
the gate: a canary with AGENT_FAULT_RATE=0.2 is aborted (exit 1), a healthy one promoted
(exit 0); too little traffic is "not enough data" (3); an unreachable Prometheus or a broken
selector is an error (2).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.agent import agent_server
from support.cli import kustodian
from support.processes import ManagedProcess, free_port, require_tool, wait_for_http

pytestmark = pytest.mark.slow
AGENT_ENV = {"AGENT_RATE_LIMIT": "1000000/minute"}
WINDOW = "1m"


@contextlib.contextmanager
def prometheus(targets: dict[str, int]) -> Iterator[str]:
    """A real Prometheus scraping 127.0.0.1:<port> for each track every second."""
    workdir = Path(tempfile.mkdtemp(prefix="prom-"))
    static = "\n".join(
        f"      - targets: ['127.0.0.1:{port}']\n        labels: {{track: {track}}}"
        for track, port in targets.items())
    (workdir / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n  - job_name: agent\n    static_configs:\n" + static + "\n")
    port = free_port()
    proc = ManagedProcess([require_tool("prometheus"),
                           f"--config.file={workdir / 'prometheus.yml'}",
                           f"--storage.tsdb.path={workdir / 'data'}",
                           f"--web.listen-address=127.0.0.1:{port}"]).start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url + "/-/ready", timeout=30)
        yield url
    finally:
        proc.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def query(url: str, promql: str) -> float:
    endpoint = f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(endpoint, timeout=5) as resp:
        result = json.load(resp)["data"]["result"]
    return float(result[0]["value"][1]) if result else 0.0


def drive(agents: list, requests_each: int, threads: int = 6) -> dict[str, dict[int, int]]:
    """POST /v1/sessions `requests_each` times to every agent; status counts per agent."""
    counts: dict[str, dict[int, int]] = {a.base_url: {} for a in agents}
    lock = threading.Lock()
    jobs = [a for _ in range(requests_each) for a in agents]

    def worker(start: int) -> None:
        for agent in jobs[start::threads]:
            req = urllib.request.Request(agent.url("/v1/sessions"), data=b"{}", method="POST",
                                         headers={**agent.headers(),
                                                  "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    status = resp.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            with lock:
                counts[agent.base_url][status] = counts[agent.base_url].get(status, 0) + 1

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return counts


def scraped(url: str, track: str, status: str) -> float:
    return query(url, f'sum(http_requests_total{{track="{track}",route="/v1/sessions",'
                      f'status=~"{status}"}})')


def wait_scraped(url: str, agents: dict, counts: dict[str, dict[int, int]]) -> None:
    """Poll Prometheus until it has scraped every status count the load produced."""
    deadline = time.monotonic() + 30
    while True:
        missing = [(track, status, n) for track, agent in agents.items()
                   for status, n in counts[agent.base_url].items()
                   if scraped(url, track, str(status)) < n]
        if not missing:
            return
        assert time.monotonic() < deadline, f"Prometheus did not scrape the load: {missing}"
        time.sleep(0.3)


def analyze(url: str, *extra: str) -> tuple[int, dict]:
    proc = kustodian("canary", "analyze", "--prometheus", url, "--window", WINDOW,
                     "--max-error-ratio", "0.02", "--max-p95-ratio", "3", "--min-requests",
                     "100", "--format", "json", *extra, cwd=Path.cwd())
    assert proc.returncode in (0, 1, 3), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


@pytest.fixture(scope="module")
def redis_url():
    from support.processes import RedisServer

    server = RedisServer().start()
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def stable(redis_url):
    with agent_server(redis_url, workers=2, env=AGENT_ENV) as agent:
        yield agent


@contextlib.contextmanager
def scenario(stable, canary, requests_each: int) -> Iterator[tuple[str, dict]]:
    """Prometheus over both agents; a warm-up so every series exists before the measured
    load (a counter's first sample is its baseline), then the load; yields (url, counts)."""
    agents = {"stable": stable, "canary": canary}
    with prometheus({t: a.port for t, a in agents.items()}) as url:
        warmup = drive([stable, canary], 20)
        wait_scraped(url, agents, warmup)
        counts = drive([stable, canary], requests_each)
        total = {a.base_url: {s: warmup[a.base_url].get(s, 0) + n
                              for s, n in counts[a.base_url].items()} for a in agents.values()}
        wait_scraped(url, agents, total)
        yield url, counts


def test_faulty_canary_is_aborted(stable, redis_url):
    faulty = {**AGENT_ENV, "AGENT_FAULT_RATE": "0.2"}
    with agent_server(redis_url, workers=2, env=faulty) as c, \
            scenario(stable, c, 250) as (url, counts):
        code, report = analyze(url)
    assert counts[c.base_url].get(500, 0) > 0, counts
    assert code == 1, report
    assert report["verdict"] == "abort"
    failing = {chk["name"] for chk in report["checks"] if chk["passed"] is False}
    assert "error_ratio[canary]" in failing
    ratio = next(chk["value"] for chk in report["checks"] if chk["name"] == "error_ratio[canary]")
    assert 0.05 < ratio < 0.5, ratio
    assert all(chk["query"] for chk in report["checks"])


def test_healthy_canary_is_promoted_and_text_shows_evidence(stable, redis_url):
    with agent_server(redis_url, workers=2, env=AGENT_ENV) as c, \
            scenario(stable, c, 250) as (url, counts):
        code, report = analyze(url)
        text = kustodian("canary", "analyze", "--prometheus", url, "--window",
                         WINDOW, "--max-error-ratio", "0.02", "--max-p95-ratio", "3",
                         "--min-requests", "100", cwd=Path.cwd())
    assert set(counts[c.base_url]) == {201}, counts
    assert code == 0, report
    assert report["verdict"] == "promote"
    values = {chk["name"]: chk["value"] for chk in report["checks"]}
    assert values["error_ratio[canary]"] == 0
    assert values["requests[canary]"] >= 100 and values["requests[stable]"] >= 100
    assert text.returncode == 0
    assert "http_requests_total" in text.stdout and "verdict: promote" in text.stdout


def test_too_little_traffic_is_not_enough_data(stable, redis_url):
    with agent_server(redis_url, workers=1, env=AGENT_ENV) as c, \
            scenario(stable, c, 20) as (url, _):
        code, report = analyze(url)
    assert code == 3, report
    assert report["verdict"] == "not enough data"


def test_unreachable_prometheus_and_bad_selector_exit_2(stable):
    down = f"http://127.0.0.1:{free_port()}"
    proc = kustodian("canary", "analyze", "--prometheus", down, "--window", "30s", cwd=Path.cwd())
    assert proc.returncode == 2
    assert "unreachable" in proc.stderr and "Traceback" not in proc.stderr
    with prometheus({"stable": stable.port}) as url:
        proc = kustodian("canary", "analyze", "--prometheus", url,
                         "--selector", 'job=~"(', "--window", "30s", cwd=Path.cwd())
    assert proc.returncode == 2, proc.stdout
    assert "rejected the query" in proc.stderr and "Traceback" not in proc.stderr
    proc = kustodian("canary", "analyze", "--prometheus", down, "--window", "5 min", cwd=Path.cwd())
    assert proc.returncode == 2 and "not a Prometheus duration" in proc.stderr
