"""`kustodian canary analyze` against a real Prometheus scraping real gunicorn agents.

One Prometheus (Debian binary) per module scrapes, every second, a stable agent and one canary
agent per scenario, each scenario a scrape job of its own (labels job=<scenario>,
track=stable / track=canary); a test selects its scenario with `--selector job="..."`, so it
sees only its own canary (the stable agent is shared, as a real stable serves every canary).
The module warms every series up once (a counter's first sample is its baseline). A test
drives a bounded load through its canary and the stable and runs the gate: a canary with
AGENT_FAULT_RATE=0.2 is aborted (exit 1), a healthy one promoted (exit 0); too little
traffic is "not enough data" (3); an unreachable Prometheus or a broken selector is an
error (2).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from support.agent import AgentServer, agent_server
from support.cli import kustodian
from support.processes import ManagedProcess, free_port, require_tool, wait_for_http

pytestmark = pytest.mark.slow
AGENT_ENV = {"AGENT_RATE_LIMIT": "1000000/minute"}
WINDOW = "1m"
WARMUP = 50        # requests per agent before any test: a faulty canary answers 500 in them
# scenario -> (gunicorn workers, extra agent environment) of its canary
SCENARIOS = {"healthy": (2, {}), "faulty": (2, {"AGENT_FAULT_RATE": "0.2"}), "low": (1, {})}


@contextlib.contextmanager
def prometheus(jobs: dict[str, dict[str, int]]) -> Iterator[str]:
    """A real Prometheus scraping, every second, 127.0.0.1:<port> of each track of each job
    (job name -> track -> port)."""
    workdir = Path(tempfile.mkdtemp(prefix="prom-"))
    config = ["global: {scrape_interval: 1s, evaluation_interval: 1s}",
              "scrape_configs:" if jobs else "scrape_configs: []"]
    for job, targets in jobs.items():
        config += [f"  - job_name: {job}", "    static_configs:"]
        config += [f"      - targets: ['127.0.0.1:{port}']\n        labels: {{track: {track}}}"
                   for track, port in targets.items()]
    (workdir / "prometheus.yml").write_text("\n".join(config) + "\n")
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


def scraped(url: str, job: str, track: str, status: str) -> float:
    return query(url, f'sum(http_requests_total{{job="{job}",track="{track}",'
                      f'route="/v1/sessions",status=~"{status}"}})')


@dataclass
class Lab:
    """The module's agents and Prometheus; `sent` counts every request made to each agent
    (base URL -> status -> count), so a test can wait until Prometheus has scraped them all."""

    url: str
    stable: AgentServer
    canaries: dict[str, AgentServer]
    sent: dict[str, dict[int, int]] = field(default_factory=dict)

    def agents(self, scenario: str) -> dict[str, AgentServer]:
        return {"stable": self.stable, "canary": self.canaries[scenario]}

    def load(self, scenarios: list[str], requests_each: int) -> dict[str, dict[int, int]]:
        """`requests_each` requests to the stable and to each scenario's canary; waits until
        Prometheus has scraped them; the status counts of this load per agent."""
        agents = [self.stable, *(self.canaries[s] for s in scenarios)]
        counts = drive(agents, requests_each)
        for base, statuses in counts.items():
            total = self.sent.setdefault(base, {})
            for status, n in statuses.items():
                total[status] = total.get(status, 0) + n
        for scenario in scenarios:
            self.wait_scraped(scenario)
        return counts

    def wait_scraped(self, scenario: str) -> None:
        """Poll Prometheus until it has scraped, in `scenario`'s job, every request counted."""
        deadline = time.monotonic() + 60
        while True:
            missing = [(track, status, n) for track, agent in self.agents(scenario).items()
                       for status, n in self.sent[agent.base_url].items()
                       if scraped(self.url, scenario, track, str(status)) < n]
            if not missing:
                return
            assert time.monotonic() < deadline, \
                f"Prometheus did not scrape the load of {scenario}: {missing}"
            time.sleep(0.2)


def start_agents(stack: contextlib.ExitStack, redis_url: str,
                 specs: list[tuple[int, dict[str, str]]]) -> list[AgentServer]:
    """Start one agent per (workers, env) at once; each is stopped when `stack` closes, all
    of them told to stop first so their graceful stops overlap."""
    managers = [agent_server(redis_url, workers=w, env={**AGENT_ENV, **env}) for w, env in specs]
    with ThreadPoolExecutor(len(managers)) as pool:
        entered = [pool.submit(m.__enter__) for m in managers]
    agents = []
    for manager, future in zip(managers, entered, strict=True):
        if future.exception() is None:
            stack.push(manager.__exit__)
            agents.append(future.result())
    for future in entered:
        if future.exception() is not None:
            raise future.exception()

    @stack.callback
    def stop_all() -> None:
        for agent in agents:
            agent.process.signal(signal.SIGTERM)
    return agents


@contextlib.contextmanager
def canary_lab(redis_url: str, scenarios: dict[str, tuple[int, dict[str, str]]]) -> Iterator[Lab]:
    """A stable agent, a canary per scenario, one Prometheus scraping them (a job per
    scenario) and every series warmed up and scraped."""
    with contextlib.ExitStack() as stack:
        stable, *canaries = start_agents(stack, redis_url, [(2, {}), *scenarios.values()])
        named = dict(zip(scenarios, canaries, strict=True))
        url = stack.enter_context(prometheus(
            {name: {"stable": stable.port, "canary": c.port} for name, c in named.items()}))
        lab = Lab(url, stable, named)
        lab.load(list(scenarios), WARMUP)
        yield lab


def analyze(url: str, scenario: str, *extra: str) -> tuple[int, dict]:
    proc = kustodian("canary", "analyze", "--prometheus", url, "--window", WINDOW,
                     "--max-error-ratio", "0.02", "--max-p95-ratio", "3", "--min-requests",
                     "100", "--selector", f'job="{scenario}"', "--format", "json", *extra,
                     cwd=Path.cwd())
    assert proc.returncode in (0, 1, 3), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


@pytest.fixture(scope="module")
def redis_url():
    from support.processes import RedisServer

    server = RedisServer().start()
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def lab(redis_url):
    with canary_lab(redis_url, SCENARIOS) as running:
        yield running


def test_faulty_canary_is_aborted(lab):
    counts = lab.load(["faulty"], 250)
    code, report = analyze(lab.url, "faulty")
    assert counts[lab.canaries["faulty"].base_url].get(500, 0) > 0, counts
    assert code == 1, report
    assert report["verdict"] == "abort"
    failing = {chk["name"] for chk in report["checks"] if chk["passed"] is False}
    assert "error_ratio[canary]" in failing
    ratio = next(chk["value"] for chk in report["checks"] if chk["name"] == "error_ratio[canary]")
    assert 0.05 < ratio < 0.5, ratio
    assert all(chk["query"] for chk in report["checks"])


def test_healthy_canary_is_promoted_and_text_shows_evidence(lab):
    counts = lab.load(["healthy"], 250)
    code, report = analyze(lab.url, "healthy")
    text = kustodian("canary", "analyze", "--prometheus", lab.url, "--window", WINDOW,
                     "--max-error-ratio", "0.02", "--max-p95-ratio", "3", "--min-requests",
                     "100", "--selector", 'job="healthy"', cwd=Path.cwd())
    assert set(counts[lab.canaries["healthy"].base_url]) == {201}, counts
    assert code == 0, report
    assert report["verdict"] == "promote"
    values = {chk["name"]: chk["value"] for chk in report["checks"]}
    assert values["error_ratio[canary]"] == 0
    assert values["requests[canary]"] >= 100 and values["requests[stable]"] >= 100
    assert text.returncode == 0
    assert "http_requests_total" in text.stdout and "verdict: promote" in text.stdout


def test_too_little_traffic_is_not_enough_data(lab):
    lab.load(["low"], 20)
    code, report = analyze(lab.url, "low")
    assert code == 3, report
    assert report["verdict"] == "not enough data"
    requests = {chk["name"]: chk["value"] for chk in report["checks"]}["requests[canary]"]
    assert requests is not None and requests < 100, report


def test_unreachable_prometheus_and_bad_selector_exit_2():
    down = f"http://127.0.0.1:{free_port()}"
    proc = kustodian("canary", "analyze", "--prometheus", down, "--window", "30s", cwd=Path.cwd())
    assert proc.returncode == 2
    assert "unreachable" in proc.stderr and "Traceback" not in proc.stderr
    with prometheus({}) as url:                    # the query is refused before any data
        proc = kustodian("canary", "analyze", "--prometheus", url,
                         "--selector", 'job=~"(', "--window", "30s", cwd=Path.cwd())
    assert proc.returncode == 2, proc.stdout
    assert "rejected the query" in proc.stderr and "Traceback" not in proc.stderr
    proc = kustodian("canary", "analyze", "--prometheus", down, "--window", "5 min", cwd=Path.cwd())
    assert proc.returncode == 2 and "not a Prometheus duration" in proc.stderr
